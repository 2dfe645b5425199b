#!/usr/bin/perl
# archive_command and restore_command (DESIGN §7): hands the file to the
# running agent over its unix socket (the protocol: src/backup/wal-protocol.ts)
# and reports back.
#
#   perl wal-client.pl archive <socket> <%f>
#   perl wal-client.pl restore <socket> <%f> <%p>
#
# PostgreSQL runs it once per WAL file, as its OS user, with cwd = PGDATA.
# Perl, not node: `node -e 0` alone takes 62 ms here (median of 15) for
# every 16 MiB segment, on every member (archive_mode=always) and at every
# replayed segment; this script starts and exits in 9.5 ms. perl-base is
# Essential in Debian, and PostgreSQL's packages depend on perl. The paths
# that succeed use perl-base modules only; JSON::PP (perl's core, which
# postgresql-common depends on) is loaded only to read an answer other than
# the agent's own success lines.
#
# Exit status: 0 success; 1 for everything else: failure, the file not in
# the archive, bad usage, timeout. Never above 125 or by a signal of its own
# (SIGPIPE is ignored): PostgreSQL treats those as fatal. Every failure
# prints one line on stderr, "pgherd wal-client: <op> <file>: <cause>",
# which lands in the server log. restore writes "<%p>.pgherd-tmp" and
# renames it to "<%p>" only once every byte arrived, and removes the
# temporary file on any failure.
use strict;
use warnings;
use Errno ();
use Fcntl qw(O_WRONLY O_CREAT O_TRUNC);
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
use Time::HiRes ();

# The protocol's values, as wal-protocol.ts has them (a unit test compares the two).
my $PROTOCOL_VERSION = 1;
my $ANSWER_LINE_BYTES_MAX = 16384;
my $TIMEOUT_MS_DEFAULT = 600000;
my $TIMEOUT_ENV = 'PGHERDWAL_CLIENT_TIMEOUT_MS';
my $RESTORE_TEMP_SUFFIX = '.pgherd-tmp';

my $USAGE = 'usage: wal-client archive <socket> <file> | wal-client restore <socket> <file> <destination>';
my $READ_BYTES = 1024 * 1024;

my ($op, $socket_path, $name, $destination) = @ARGV;
# restore's temporary file while it exists: removed on any failure.
my $temporary;

$SIG{PIPE} = 'IGNORE';
my $ok = eval { main(); 1 };
if (!$ok) {
  my $error = $@;
  my $cause = ref($error) eq 'HASH' ? $error->{failure} : "unexpected failure: $error";
  $cause =~ s/\s+\z//;
  unlink $temporary if defined $temporary;
  printf STDERR "pgherd wal-client: %s %s: %s\n", $op // '?', $name // '?', $cause;
  exit 1;
}
exit 0;

# A failure explained for the server log.
sub fail { die { failure => $_[0] } }

sub main {
  my $arguments = scalar @ARGV;
  fail($USAGE) unless defined $name && (($op eq 'archive' && $arguments == 3) || ($op eq 'restore' && $arguments == 4));
  my $timeout_ms = timeout_ms($ENV{$TIMEOUT_ENV});
  local $SIG{ALRM} = sub { fail("no answer from the pgherd agent at $socket_path within $timeout_ms ms") };
  Time::HiRes::alarm($timeout_ms / 1000);
  my $socket = connect_agent();
  write_all($socket, '{"v":' . $PROTOCOL_VERSION . ',"op":"' . $op . '","name":' . json_string($name) . "}\n", \&connection_failed);
  my ($line, $rest) = read_line($socket);
  if ($op eq 'archive') {
    check_archive_answer($line);
  } else {
    receive_restore($socket, $line, $rest);
  }
  Time::HiRes::alarm(0);
  close $socket;
}

sub timeout_ms {
  my ($text) = @_;
  return $TIMEOUT_MS_DEFAULT if !defined $text || $text eq '';
  fail("$TIMEOUT_ENV=" . json_string($text) . ': expected a positive number of milliseconds') unless $text =~ /\A[0-9]{1,15}\z/ && $text > 0;
  return $text + 0;
}

sub connect_agent {
  socket(my $socket, AF_UNIX, SOCK_STREAM, 0) or fail('cannot create a unix socket: ' . errno_name());
  connect($socket, pack_sockaddr_un($socket_path)) or fail("cannot reach the pgherd agent at $socket_path: " . errno_name() . ' — is the agent running?');
  return $socket;
}

# Every byte of `bytes` to `handle` (the socket or restore's file); `failed` says why a write failed, read at once ($!).
sub write_all {
  my ($handle, $bytes, $failed) = @_;
  my $offset = 0;
  while ($offset < length $bytes) {
    my $written = syswrite($handle, $bytes, length($bytes) - $offset, $offset);
    fail($failed->()) unless defined $written;
    $offset += $written;
  }
}

sub connection_failed { return "connection to the pgherd agent at $socket_path failed: " . errno_name() }

# The answer's first line, without its "\n", and the bytes that came after it.
sub read_line {
  my ($socket) = @_;
  my $buffered = '';
  for (;;) {
    my $newline = index($buffered, "\n");
    return (substr($buffered, 0, $newline), substr($buffered, $newline + 1)) if $newline >= 0;
    fail("the pgherd agent at $socket_path sent an answer line longer than $ANSWER_LINE_BYTES_MAX bytes") if length $buffered > $ANSWER_LINE_BYTES_MAX;
    my $chunk = read_chunk($socket);
    fail("the pgherd agent at $socket_path closed the connection without an answer") if $chunk eq '';
    $buffered .= $chunk;
  }
}

# The next bytes from the agent; '' at the end of the connection.
sub read_chunk {
  my ($socket) = @_;
  my $chunk;
  my $read = sysread($socket, $chunk, $READ_BYTES);
  fail(connection_failed()) unless defined $read;
  return $chunk;
}

sub check_archive_answer {
  my ($line) = @_;
  return if $line eq '{"ok":true}';
  my $answer = decode_answer($line);
  fail($answer->{error}) if is_false($answer->{ok}) && is_text($answer->{error});
  return if is_true($answer->{ok});
  fail("unexpected answer from the pgherd agent: $line");
}

sub receive_restore {
  my ($socket, $line, $rest) = @_;
  my $size;
  if ($line =~ /\A\{"ok":true,"size":([0-9]{1,15})\}\z/) {
    $size = $1 + 0;
  } else {
    my $answer = decode_answer($line);
    fail('not in the archive') if is_false($answer->{ok}) && is_true($answer->{missing});
    fail($answer->{error}) if is_false($answer->{ok}) && is_text($answer->{error});
    fail("unexpected answer from the pgherd agent: $line") unless is_true($answer->{ok}) && defined $answer->{size} && !ref $answer->{size} && $answer->{size} =~ /\A[0-9]{1,15}\z/;
    $size = $answer->{size} + 0;
  }
  my $path = $destination . $RESTORE_TEMP_SUFFIX;
  sysopen(my $file, $path, O_WRONLY | O_CREAT | O_TRUNC, 0600) or fail("cannot create $path: $!");
  $temporary = $path;
  my $received = 0;
  # Everything up to the end of the connection: the agent closes it after the last byte.
  my $chunk = $rest;
  for (;;) {
    $received += length $chunk;
    fail("the pgherd agent sent more than the announced $size bytes") if $received > $size;
    write_all($file, $chunk, sub { "cannot write $destination: $!" });
    $chunk = read_chunk($socket);
    last if $chunk eq '';
  }
  fail("the connection to the pgherd agent ended after $received of $size bytes") if $received != $size;
  close $file or fail("cannot write $destination: $!");
  rename $path, $destination or fail("cannot write $destination: $!");
  undef $temporary;
}

# The answer line parsed as JSON, an object; the line itself is named when it is not.
sub decode_answer {
  my ($line) = @_;
  my $loaded = eval { require JSON::PP; 1 };
  fail("cannot read the pgherd agent's answer (the perl module JSON::PP is missing): $line") unless $loaded;
  my $answer = eval { JSON::PP->new->decode($line) };
  fail('the pgherd agent sent an answer that is not JSON: ' . json_string(substr($line, 0, 200))) unless defined $answer;
  fail("unexpected answer from the pgherd agent: $line") unless ref $answer eq 'HASH';
  return $answer;
}

sub is_true { my ($value) = @_; return JSON::PP::is_bool($value) && $value }
sub is_false { my ($value) = @_; return JSON::PP::is_bool($value) && !$value }
sub is_text { my ($value) = @_; return defined $value && !ref $value && !JSON::PP::is_bool($value) }

# A JSON string of the bytes in `text` (quotes, backslashes and control characters escaped).
sub json_string {
  my ($text) = @_;
  $text =~ s/(["\\])/\\$1/g;
  $text =~ s/([\x00-\x1f\x7f])/sprintf('\\u%04x', ord $1)/ge;
  return "\"$text\"";
}

# The symbolic name of errno (ENOENT, ECONNREFUSED, …), or its message when it has none.
sub errno_name {
  my $message = "$!";
  for my $name (keys %!) {
    return $name if $!{$name};
  }
  return $message;
}
