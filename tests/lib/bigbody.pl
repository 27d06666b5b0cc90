#!/usr/bin/perl
# bigbody.pl PORT [STATUS] [BYTES]: an HTTP receiver that answers every
# request with STATUS (default 500) and a body of BYTES (default 65536)
# random bytes, as a hostile callback receiver may.  One request per
# connection.  Prints "listening" once it listens; exits on SIGTERM.
use strict;
use warnings;
use IO::Socket::INET;

my ($port, $status, $bytes) = @ARGV;
die "usage: bigbody.pl PORT [STATUS] [BYTES]\n" unless $port;
$status ||= 500;
$bytes ||= 65536;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 128, ReuseAddr => 1)
    or die "bigbody: could not listen on 127.0.0.1:$port: $!\n";
$SIG{TERM} = sub { exit 0 };
$SIG{PIPE} = 'IGNORE';
$| = 1;
print "listening\n";
while (my $c = $srv->accept) {
    my $req = '';
    while ($req !~ /\r\n\r\n/) {
        my $n = sysread($c, my $buf, 65536);
        last unless $n;
        $req .= $buf;
    }
    my ($len) = $req =~ /^Content-Length:\s*(\d+)/im;
    my $have = length($req) - index($req, "\r\n\r\n") - 4;
    while (defined $len && $have < $len) {
        my $n = sysread($c, my $buf, 65536);
        last unless $n;
        $have += $n;
    }
    my $body = join('', map { chr(int(rand(256))) } 1 .. $bytes);
    print $c "HTTP/1.1 $status Oops\r\nContent-Type: application/octet-stream\r\nContent-Length: $bytes\r\n"
        . "Connection: close\r\n\r\n$body";
    close($c);
}
