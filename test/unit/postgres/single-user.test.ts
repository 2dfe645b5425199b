import test from 'ava';
import { PgInvalidNameError } from '../../../src/postgres/errors.js';
import { scramVerifier } from '../../../src/postgres/initdb.js';
import { superuserPasswordSql } from '../../../src/postgres/single-user.js';

test('the single-user statement: one line (single-user mode ends a statement at the newline), alter or create, the verifier only', (t) => {
  const verifier = scramVerifier('s3cret-password', Buffer.alloc(16, 7));
  const sql = superuserPasswordSql('postgres', verifier);
  t.is(sql.split('\n').length, 2, 'one line and its newline');
  t.true(sql.endsWith(';\n'));
  t.is(
    sql,
    `DO $pgherd$BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'postgres') THEN ALTER ROLE postgres WITH SUPERUSER LOGIN PASSWORD '${verifier}'; ELSE CREATE ROLE postgres WITH SUPERUSER LOGIN PASSWORD '${verifier}'; END IF; END$pgherd$;\n`,
  );
  t.false(sql.includes('s3cret-password'));
  t.false(verifier.includes('$pgherd$') || verifier.includes("'"), 'the verifier cannot end the quoting');
  t.throws(() => superuserPasswordSql("postgres'; DROP ROLE x; --", verifier), { instanceOf: PgInvalidNameError });
});
