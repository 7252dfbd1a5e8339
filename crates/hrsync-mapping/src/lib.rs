//! Mapping: HR records into desired directory entries through formats and expressions (minijinja).
