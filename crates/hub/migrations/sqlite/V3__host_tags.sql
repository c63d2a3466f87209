-- Tags group hosts for the dashboard's filters, alert scopes and notification routing.
-- A JSON array of strings, e.g. ["prod","db"]; validated by the hub before it is written.
ALTER TABLE hosts ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
