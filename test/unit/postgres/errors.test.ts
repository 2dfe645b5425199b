import test from 'ava';
import { PgherdError } from '../../../src/lib/errors.js';
import * as errors from '../../../src/postgres/errors.js';

test('PostgreSQL error codes are API: frozen here', (t) => {
  const samples: PgherdError[] = [
    new errors.PgBinariesMissingError('m'),
    new errors.PgOsUserMissingError('postgres'),
    new errors.PgToolFailedError('initdb', 1, 'tail'),
    new errors.PgStartFailedError('/d', 'r', 'tail'),
    new errors.PgStartTimeoutError('/d', 1, 1),
    new errors.PgStopFailedError('/d', 1, 1),
    new errors.PgNotRunningError('/d', 'op'),
    new errors.PgQueryError('w', { cause: Object.assign(new Error('x'), { code: '42710' }) }),
    new errors.PgPromoteFailedError('m'),
    new errors.PgRewindSourceNotPrimaryError('10.0.0.2:5432'),
    new errors.PgTargetNotEmptyError('/d'),
    new errors.PgInvalidNameError('k', 'n', 'r'),
    new errors.PgParameterRefusedError('port', 'r'),
    new errors.PgSettingNotAppliedError('p', 'a', 'b'),
  ];
  t.deepEqual(
    samples.map((e) => [e.name, e.code]),
    [
      ['PgBinariesMissingError', 'PGHERD_PG_BINARIES_MISSING'],
      ['PgOsUserMissingError', 'PGHERD_PG_OS_USER_MISSING'],
      ['PgToolFailedError', 'PGHERD_PG_TOOL_FAILED'],
      ['PgStartFailedError', 'PGHERD_PG_START_FAILED'],
      ['PgStartTimeoutError', 'PGHERD_PG_START_TIMEOUT'],
      ['PgStopFailedError', 'PGHERD_PG_STOP_FAILED'],
      ['PgNotRunningError', 'PGHERD_PG_NOT_RUNNING'],
      ['PgQueryError', 'PGHERD_PG_QUERY_FAILED'],
      ['PgPromoteFailedError', 'PGHERD_PG_PROMOTE_FAILED'],
      ['PgRewindSourceNotPrimaryError', 'PGHERD_PG_REWIND_SOURCE_NOT_PRIMARY'],
      ['PgTargetNotEmptyError', 'PGHERD_PG_TARGET_NOT_EMPTY'],
      ['PgInvalidNameError', 'PGHERD_PG_INVALID_NAME'],
      ['PgParameterRefusedError', 'PGHERD_PG_PARAMETER_REFUSED'],
      ['PgSettingNotAppliedError', 'PGHERD_PG_SETTING_NOT_APPLIED'],
    ],
  );
  t.true(samples.every((e) => e instanceof PgherdError));
  t.is((samples[7] as errors.PgQueryError).sqlState, '42710');
});
