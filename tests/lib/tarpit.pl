#!/usr/bin/perl
# tarpit.pl PORT: a hostile HTTP receiver for the tests.  It accepts every
# connection and never reads or answers: the client waits until its own
# timeout.  Prints "listening" once it listens; exits on SIGTERM.
use strict;
use warnings;
use IO::Socket::INET;

my $port = shift or die "usage: tarpit.pl PORT\n";
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 1024, ReuseAddr => 1)
    or die "tarpit: could not listen on 127.0.0.1:$port: $!\n";
$SIG{TERM} = sub { exit 0 };
$| = 1;
print "listening\n";
my @held;
while (my $c = $srv->accept) {
    push @held, $c;    # held open, never read
}
