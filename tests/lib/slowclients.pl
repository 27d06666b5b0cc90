#!/usr/bin/perl
# slowclients.pl MODE N PORT SECONDS: many misbehaving HTTP clients at once,
# for the tests of the server's limits.
#   trickle  N connections each send a request head announcing a 100-byte
#            body, then one byte a second; reports when the server closed
#            them and how many got a 408
#   hold     N connections that send nothing; reports how many were turned
#            away at once (a 503) and how many the server kept
# Prints one line: "MODE: opened O, closed C (first F ms, last L ms), 408 A, 503 B"
# and exits once every connection is closed or SECONDS have passed.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my ($mode, $n, $port, $secs) = @ARGV;
$SIG{PIPE} = 'IGNORE';
my $t0 = time;
my (@socks, %got, %closed_at);
for my $i (1 .. $n) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
    last unless $s;
    $s->blocking(0);
    push @socks, $s;
    if ($mode eq 'trickle') {
        $s->syswrite("POST /v1/charging-sessions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     . "Content-Length: 100\r\n\r\n");
    }
}
my $sel = IO::Select->new(@socks);
my $next_byte = time + 1;
while ($sel->count && time - $t0 < $secs) {
    for my $s ($sel->can_read(0.1)) {
        my $r = sysread($s, my $buf, 4096);
        if ($r) { $got{$s} .= $buf; next }
        $closed_at{$s} = int((time - $t0) * 1000);
        $sel->remove($s);
    }
    if ($mode eq 'trickle' && time >= $next_byte) {
        $_->syswrite('x') for $sel->handles;
        $next_byte += 1;
    }
}
my @c = sort { $a <=> $b } values %closed_at;
my $s408 = grep { ($got{$_} // '') =~ m{^HTTP/1\.1 408 } } @socks;
my $s503 = grep { ($got{$_} // '') =~ m{^HTTP/1\.1 503 } } @socks;
printf "%s: opened %d, closed %d (first %d ms, last %d ms), 408 %d, 503 %d\n", $mode, scalar(@socks), scalar(@c),
    @c ? $c[0] : -1, @c ? $c[-1] : -1, $s408, $s503;
