//! Directory access over LDAP (ldap3): snapshots with paged search, and applying a plan with bounded concurrency.
