#!/usr/bin/perl
# rawhttp.pl PORT [WAIT] < REQUEST-BYTES: send raw bytes to 127.0.0.1:PORT,
# as they arrive on stdin (so a slow writer trickles), and print everything
# the server answers, until it closes the connection or, once stdin is done,
# nothing more arrives for WAIT seconds (default 2).  The last line says
# "# closed by the server after N ms" or "# still open after N ms" (from the
# connection's start), so a test can tell both apart.  For the HTTP framing
# tests.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time);

my ($port, $wait) = @ARGV;
$wait //= 2;
$SIG{PIPE} = 'IGNORE';
binmode(STDIN);
binmode(STDOUT);
$| = 1;
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
    or die "rawhttp: cannot connect to 127.0.0.1:$port: $!\n";
my $t0 = time;
my $sel = IO::Select->new($s, \*STDIN);
my ($closed, $stdin_done) = (0, 0);
while (1) {
    my @ready = $sel->can_read($stdin_done ? $wait : 3600);
    last unless @ready;
    for my $fh (@ready) {
        my $n = sysread($fh, my $buf, 65536);
        if ($fh == $s) {
            if (!$n) { $closed = 1; last }
            print $buf;
        } elsif (!$n) {
            $stdin_done = 1;
            $sel->remove(\*STDIN);
        } else {
            $s->syswrite($buf);
        }
    }
    last if $closed;
}
printf "\n# %s after %d ms\n", $closed ? 'closed by the server' : 'still open', (time - $t0) * 1000;
