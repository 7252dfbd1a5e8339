//! hrsync engine: config, orchestration of the stages.
