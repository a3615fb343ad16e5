"""Eaton UPSes over SNMP (connector type `eaton`, mode: snmp): XUPS-MIB, with RFC 1628 UPS-MIB
where XUPS-MIB has no object (seconds on battery, battery status) or as a fallback.

| alert_type | raised when | resource_key |
|---|---|---|
| on_battery | xupsOutputSource = 5 (battery), or upsOutputSource = 5, or upsSecondsOnBattery > 0 | ups |
| low_battery | upsBatteryStatus 3 (low) / 4 (depleted), or xupsBatteryLowCapacity = 1 (yes); level = low/depleted | battery |
| battery_capacity_low | xupsBatCapacity (else upsEstimatedChargeRemaining) < battery_capacity_min | battery |
| output_overload | xupsOutputLoad (else the highest upsOutputPercentLoad) > output_load_max | output |
| input_voltage_out_of_range | an input phase's xupsInputVoltage (else upsInputVoltage) outside [input_voltage_min, input_voltage_max] | input.<phase> |

A condition whose objects the UPS does not have is not judged (its previous state is kept).
"""
from __future__ import annotations

from typing import Any, Mapping

from ..snmp.poller import Evaluation, SnmpPoller
from ..snmp.targets import SnmpSession, Target

XUPS = "1.3.6.1.4.1.534.1"
UPS = "1.3.6.1.2.1.33.1"
OIDS = {
    "xupsIdentModel": f"{XUPS}.1.2.0",
    "xupsBatTimeRemaining": f"{XUPS}.2.1.0",
    "xupsBatCapacity": f"{XUPS}.2.4.0",
    "xupsBatteryLowCapacity": f"{XUPS}.2.10.0",
    "xupsOutputLoad": f"{XUPS}.4.1.0",
    "xupsOutputSource": f"{XUPS}.4.5.0",
    "upsBatteryStatus": f"{UPS}.2.1.0",
    "upsSecondsOnBattery": f"{UPS}.2.2.0",
    "upsEstimatedChargeRemaining": f"{UPS}.2.4.0",
    "upsOutputSource": f"{UPS}.4.1.0",
}
XUPS_INPUT_VOLTAGE = f"{XUPS}.3.4.1.2"  # .<phase>
UPS_INPUT_VOLTAGE = f"{UPS}.3.3.1.3"  # .<line>
UPS_OUTPUT_PERCENT_LOAD = f"{UPS}.4.4.1.5"  # .<line>
BATTERY = 5  # xupsOutputSource and upsOutputSource: battery(5)
YES = 1  # xupsBatteryLowCapacity: yes(1), no(2)
BATTERY_STATUS: dict[Any, str] = {3: "low", 4: "depleted"}  # looked up with what the agent sent


class EatonPoller(SnmpPoller):
    type = "eaton"
    THRESHOLDS = {"battery_capacity_min": 50, "output_load_max": 80, "input_voltage_min": None,
                  "input_voltage_max": None}

    async def read(self, session: SnmpSession, target: Target) -> Evaluation:
        got = await session.get(*OIDS.values())
        values = {name: got.get(oid) for name, oid in OIDS.items()}
        inputs = await session.walk(XUPS_INPUT_VOLTAGE) or await session.walk(UPS_INPUT_VOLTAGE)
        values["input_voltage"] = {oid.rsplit(".", 1)[1]: v for oid, v in inputs.items() if isinstance(v, int)}
        if values["xupsOutputLoad"] is None:
            loads = await session.walk(UPS_OUTPUT_PERCENT_LOAD)
            values["upsOutputPercentLoad"] = max((v for v in loads.values() if isinstance(v, int)), default=None)
        return evaluate(values, target.thresholds)


def evaluate(v: dict[str, Any], thresholds: Mapping[str, Any]) -> Evaluation:
    """Judge one UPS's readings (object name → value, None when the UPS lacks it). Pure."""
    ev = Evaluation()
    sources = (v.get("xupsOutputSource"), v.get("upsOutputSource"), v.get("upsSecondsOnBattery"))
    if all(s is None for s in sources):
        ev.unknown.add("on_battery")
    elif BATTERY in sources[:2] or (sources[2] or 0) > 0:
        seconds = v.get("upsSecondsOnBattery")
        left = v.get("xupsBatTimeRemaining")
        ev.add("on_battery", "ups", "on battery" + (f" for {seconds} s" if seconds else "")
               + (f", {left} s of run time left" if left is not None else ""),
               output_source=sources[0] if sources[0] is not None else sources[1], seconds_on_battery=seconds,
               run_time_remaining=left)

    status, low_flag = v.get("upsBatteryStatus"), v.get("xupsBatteryLowCapacity")
    if status is None and low_flag is None:
        ev.unknown.add("low_battery")
    elif status in BATTERY_STATUS or low_flag == YES:
        level = BATTERY_STATUS.get(status, "low")
        ev.add("low_battery", "battery", f"battery {level}" + (f" (battery status {status})" if status else "")
               + (" (XUPS low capacity flag set)" if low_flag == YES else ""),
               level=level, battery_status=status, low_capacity_flag=low_flag == YES)

    capacity = v.get("xupsBatCapacity")
    capacity = capacity if capacity is not None else v.get("upsEstimatedChargeRemaining")
    minimum = thresholds.get("battery_capacity_min")
    if capacity is None or minimum is None:
        ev.unknown.add("battery_capacity_low")
    elif capacity < minimum:
        ev.add("battery_capacity_low", "battery", f"battery capacity {capacity} % is below {minimum:g} %",
               value=capacity, threshold=minimum, unit="%")

    load = v.get("xupsOutputLoad")
    load = load if load is not None else v.get("upsOutputPercentLoad")
    maximum = thresholds.get("output_load_max")
    if load is None or maximum is None:
        ev.unknown.add("output_overload")
    elif load > maximum:
        ev.add("output_overload", "output", f"output load {load} % is above {maximum:g} %",
               value=load, threshold=maximum, unit="%")

    low, high = thresholds.get("input_voltage_min"), thresholds.get("input_voltage_max")
    phases = v.get("input_voltage") or {}
    if not phases or (low is None and high is None):
        ev.unknown.add("input_voltage_out_of_range")
    for phase, volts in sorted(phases.items()):
        if (low is not None and volts < low) or (high is not None and volts > high):
            bounds = f"[{'-' if low is None else f'{low:g}'}, {'-' if high is None else f'{high:g}'}] V"
            ev.add("input_voltage_out_of_range", f"input.{phase}",
                   f"input voltage {volts} V on phase {phase} is outside {bounds}",
                   value=volts, threshold_min=low, threshold_max=high, unit="V", phase=phase)
    return ev
