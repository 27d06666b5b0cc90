#!/usr/bin/perl
# tcpproxy.pl PORT TARGET_PORT: a TCP proxy on 127.0.0.1:PORT to
# 127.0.0.1:TARGET_PORT that can black-hole its traffic, as a dead network
# path does: after SIGUSR1 it forwards nothing in either direction and
# holds new connections without connecting them (the sockets stay open, so
# nobody sees a reset); SIGUSR2 drops what it held and forwards again.
# Prints "listening" once it listens; exits on SIGTERM.
use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;

my ($port, $target) = @ARGV;
die "usage: tcpproxy.pl PORT TARGET_PORT\n" unless $port && $target;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port, Listen => 128, ReuseAddr => 1)
    or die "tcpproxy: could not listen on 127.0.0.1:$port: $!\n";
my $hole = 0;
my (%peer, @held);
my $sel = IO::Select->new($srv);
$SIG{TERM} = sub { exit 0 };
# black-holed connections are no longer watched: their data stays unread
$SIG{USR1} = sub { $hole = 1; $sel = IO::Select->new($srv) };
$SIG{USR2} = sub {
    close($_) for values %peer, @held;
    %peer = ();
    @held = ();
    $hole = 0;
};
$| = 1;
print "listening\n";

sub drop {
    my ($s) = @_;
    my $o = delete $peer{$s};
    $sel->remove($s);
    close($s);
    if ($o) { delete $peer{$o}; $sel->remove($o); close($o) }
}

while (1) {
    my @ready = $sel->can_read(0.1);
    for my $s (@ready) {
        if ($s == $srv) {
            my $c = $srv->accept or next;
            if ($hole) { push @held, $c; next }
            my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $target) or do { close($c); next };
            $peer{$c} = $u;
            $peer{$u} = $c;
            $sel->add($c, $u);
            next;
        }
        my $o = $peer{$s} or next;
        my $n = sysread($s, my $buf, 65536);
        if (!$n) { drop($s); next }
        my $off = 0;
        while ($off < $n) {
            my $w = syswrite($o, $buf, $n - $off, $off);
            if (!defined $w) { drop($s); last }
            $off += $w;
        }
    }
}
