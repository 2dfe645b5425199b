/**
 * The PostgreSQL controller: the only code that touches PostgreSQL processes
 * and SQL. Thin adapters; every failure is a typed PgherdError (errors.ts).
 */
export { findPgBinaries, type PgBinaries, type PgTool } from './binaries.js';
export { resolvePgOsUser, chownToPg, mkdirForPg, type PgOsUser } from './os-user.js';
export { initdb, writeHba, renderHba, createRoles, generatePassword, REPLICATION_ROLE, REWIND_ROLE, type InitdbOptions, type InitdbResult, type HbaSpec, type RolePasswords } from './initdb.js';
export {
  buildServerArgs,
  sizeMemory,
  buildConninfo,
  writeStandbySignal,
  removeStandbySignal,
  scrubAutoConf,
  assertMemberName,
  assertSlotName,
  type ServerSettings,
  type StandbyTarget,
  type MemorySizing,
} from './conf.js';
export { writePassfile } from './passfile.js';
export { PostgresController, type ControllerOptions, type PgStatus, type StartResult, type StopResult, type StopMode, type StartRole } from './process.js';
export { observe, observePosition, type PositionObservation, type Observation, type PrimaryObservation, type ReplicaObservation, type ReplicationRow, type SlotRow } from './observe.js';
export { parseLsn, parseLsnOrNull, formatLsn, type LsnValue } from '../lib/lsn.js';
export { inspectDataDir, readControlData, parseControlData, wasPrimary, cleanlyShutDownPrimary, type ControlData, type DataDirState } from './controldata.js';
export { basebackup, type BasebackupOptions, type SourceServer } from './basebackup.js';
export { rewind, type RewindOptions, type RewindResult } from './rewind.js';
export { createPhysicalSlot, dropSlot, listSlots } from './slots.js';
export { setSynchronousStandbys, setSynchronousStandbyNames, getSynchronousStandbyNames, renderSynchronousStandbyNames } from './sync.js';
export { withConnection, type LocalConnection } from './sql.js';
export * from './errors.js';
