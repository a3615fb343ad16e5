-- 011: every batch the pipeline writes carries a token, stored in the batch's own
-- transaction. If the writer process dies between its commit and its report, the engine
-- sends the batch again to the next writer; the token tells that writer the batch is
-- already in, so nothing is written twice. Tokens are only needed for seconds; the
-- writer deletes those older than a day.
CREATE TABLE written_batches (
    token UUID PRIMARY KEY,
    written_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_written_batches_written_at ON written_batches (written_at);
