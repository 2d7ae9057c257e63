-- chatstream migration 0002: the full-text index behind the fallback of GET /v1/search
-- (used when the embeddings provider or Qdrant is down; search/cs_search.c).
--
-- Why a table of its own and not an index on messages.body: a GIN index is updated for
-- every inserted row, and measured on chatstream-persist's COPY path it cost about half
-- of the write rate (scripts/bench-fts.sh; README, Benchmarks). Here the message store
-- stays as fast as before and the full-text index is written by a second persist group
-- (`chatstream-persist -X sink=postgres-search`), which may lag without slowing anything
-- that acknowledges or stores messages. Search joins the hits back to messages for the
-- text, so a message shows up once both have it.
--
-- The 'simple' configuration: lowercased words, no stemming and no stop words, so it
-- treats every language the same (a school's chat is not all English). Queries use
-- plainto_tsquery('simple', ...) against the stored tsvector.
CREATE TABLE message_search (
    room  text     COLLATE "C" NOT NULL,   -- envelope "room" (as in messages)
    id    uuid     NOT NULL,               -- envelope "id"
    tsv   tsvector NOT NULL,               -- to_tsvector('simple', envelope "text")
    PRIMARY KEY (room, id)                 -- idempotent writes; joins messages on its key
);

CREATE INDEX message_search_tsv ON message_search USING gin (tsv);
