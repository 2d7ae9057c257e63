-- chatstream migration 0001: the messages table.
--
-- One row per accepted chat message. Writes are idempotent:
--   * the primary key (room, id) holds the envelope id, assigned once upstream. An id
--     always comes with the same room (envelopes are immutable), so a replayed record
--     conflicts here; and the same index serves room history, ordered by the
--     time-ordered UUIDv7 id, so the table needs one index fewer;
--   * (user_id, client_msg_id) is unique, so a client's retry of a send is one row.
-- Identifiers compare bytewise (COLLATE "C"): they are ASCII ids, not prose, and
-- bytewise B-tree comparisons are the cheapest.
CREATE TABLE messages (
    id            uuid        NOT NULL,               -- envelope "id" (UUIDv7, time-ordered)
    room          text        COLLATE "C" NOT NULL,   -- envelope "room"
    user_id       text        COLLATE "C" NOT NULL,   -- envelope "user"
    client_msg_id text        COLLATE "C",            -- envelope "cmid"; NULL when absent
    body          text        NOT NULL,               -- envelope "text"
    sent_at       timestamptz NOT NULL,               -- envelope "ts": accepted by the gateway
    stored_at     timestamptz NOT NULL DEFAULT now(), -- written by chatstream-persist
    PRIMARY KEY (room, id)
);

CREATE UNIQUE INDEX messages_user_client_msg_id
    ON messages (user_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
