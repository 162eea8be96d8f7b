-- How far an import got: `seamwatch import` commits a file in batches, and each batch commits
-- with this row (the file's lines up to lines_done are in the store). A re-run after a failure
-- resumes after lines_done, so nothing is duplicated or lost; the row is replaced by the file's
-- imported_files row when the file is complete.
CREATE TABLE import_progress (
    sha256 VARCHAR PRIMARY KEY,
    path VARCHAR,
    kind VARCHAR,
    lines_done BIGINT NOT NULL,
    rows_imported BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    updated_at TIMESTAMP
);
