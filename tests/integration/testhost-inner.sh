#!/bin/bash
# Runs inside a test host's own network, mount, UTS and cgroup namespaces (started by yun_testhost_up
# in lib.sh): gives the host its hostname, its cgroup hierarchies (ip netns exec remounted /sys), its
# private copies of libvirt's folders, then starts its virtlogd and libvirtd, which daemonize.
# usage: testhost-inner.sh HOSTDIR HOSTNAME
set -e
H=$1
hostname "$2"
# libvirt resolves the hostname (it logs "getaddrinfo failed" at start); in this network namespace DNS is
# unreachable and every lookup waits for the resolver's timeouts. The name resolves from a private hosts file.
printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost\n' "$2" > "$H/hosts"
mount --bind "$H/hosts" /etc/hosts
mount -t tmpfs cgroup_root /sys/fs/cgroup
for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
  mkdir /sys/fs/cgroup/$c
  mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c
done
mkdir /sys/fs/cgroup/systemd
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mkdir /sys/fs/cgroup/unified
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
mkdir -p /run/libvirt
mount --bind "$H/run" /run/libvirt
mount --bind "$H/lib" /var/lib/libvirt
mount --bind "$H/etc" /etc/libvirt
mount --bind "$H/log" /var/log/libvirt
mount --bind "$H/cache" /var/cache/libvirt
virtlogd --daemon --pid-file "$H/virtlogd.pid"
virtlockd --daemon --pid-file "$H/virtlockd.pid"
libvirtd --daemon --pid-file "$H/libvirtd.pid"
