//! State, runs, links and audit in an embedded SQLite database.
