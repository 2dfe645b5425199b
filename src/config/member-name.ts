/**
 * A member's name: its Raft node id, its key in the cluster state and (as
 * `pgherd_<name>` with '-' turned into '_') its replication slot, which
 * must fit PostgreSQL's 63-byte identifiers. One pattern for the config
 * file and the cluster state.
 */
export const MEMBER_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,55}$/;
export const MEMBER_NAME_FORM = 'lowercase letters, digits, "_" and "-", starting with a letter or digit, at most 56 characters (e.g. n1)';
