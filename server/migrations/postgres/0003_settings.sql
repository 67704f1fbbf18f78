-- Values the server keeps about itself. `secret_key_check`: a constant sealed with the key that
-- seals platform tokens, so that a server started with another key refuses to start instead of
-- silently failing to open every stored token.
CREATE TABLE settings (
    name    TEXT  PRIMARY KEY,
    value   BYTEA NOT NULL
);
