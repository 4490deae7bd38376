// SPDX-License-Identifier: MIT
/* Recorded /proc/self/mountinfo samples, shared by test_mountinfo and test_policy.
 *
 * Written the way a Debian 12 (kernel 6.1) host or VM shows them: ids grow in mount
 * order, "/" has parent 1 (outside the namespace, so not in the table) and is not the
 * first line, block-device filesystems carry the device's maj:min, btrfs and the
 * pseudo filesystems an anonymous 0:NN. Device numbers: sdX 8:N, vdX 254:16*k+N (virtio),
 * dm 254:0.. on the SCSI samples, loop 7:N.
 *
 * Each is one C string; line ends are "\n". Backslashes in paths are written "\\" so the
 * string holds the kernel's octal escapes (a "\\040" here is the four bytes \040). */
#ifndef QUIESCE_TEST_MOUNTINFO_SAMPLES_H
#define QUIESCE_TEST_MOUNTINFO_SAMPLES_H

/* A normal system: Debian 12 VM (UEFI, ext4 root on sda2, ext4 /boot on sda3, vfat
 * /boot/efi on sda1, /home on LVM), the systemd pseudo filesystems, a user session's
 * tmpfs. 22 lines: 3 candidates ("/", "/boot", "/home"), vfat /boot/efi, 18 others. */
static const char SAMPLE_NORMAL[] =
	"21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	"22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"23 26 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=1000244k,nr_inodes=250061,mode=755,inode64\n"
	"24 23 0:22 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts rw,gid=5,mode=620,ptmxmode=000\n"
	"25 26 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=203260k,mode=755,inode64\n"
	"26 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro\n"
	"27 21 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs securityfs rw\n"
	"28 23 0:24 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw,inode64\n"
	"29 25 0:25 / /run/lock rw,nosuid,nodev,noexec,relatime shared:6 - tmpfs tmpfs rw,size=5120k,inode64\n"
	"30 21 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	"31 21 0:27 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw\n"
	"32 21 0:28 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:11 - bpf bpf rw,mode=700\n"
	"33 22 0:29 / /proc/sys/fs/binfmt_misc rw,relatime shared:13 - autofs systemd-1 rw,fd=30,pgrp=1,timeout=0,minproto=5,maxproto=5,direct,pipe_ino=15167\n"
	"34 23 0:19 / /dev/mqueue rw,nosuid,nodev,noexec,relatime shared:14 - mqueue mqueue rw\n"
	"35 23 0:30 / /dev/hugepages rw,relatime shared:15 - hugetlbfs hugetlbfs rw,pagesize=2M\n"
	"36 21 0:7 / /sys/kernel/debug rw,nosuid,nodev,noexec,relatime shared:16 - debugfs debugfs rw\n"
	"37 21 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime shared:17 - tracefs tracefs rw\n"
	"38 21 0:31 / /sys/kernel/config rw,nosuid,nodev,noexec,relatime shared:19 - configfs configfs rw\n"
	"62 26 8:3 / /boot rw,relatime shared:31 - ext4 /dev/sda3 rw\n"
	"65 62 8:1 / /boot/efi rw,relatime shared:33 - vfat /dev/sda1 rw,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro\n"
	"68 26 254:0 / /home rw,relatime shared:35 - ext4 /dev/mapper/vg0-home rw\n"
	"410 25 0:43 / /run/user/1000 rw,nosuid,nodev,relatime shared:272 - tmpfs tmpfs rw,size=203256k,nr_inodes=50814,mode=700,uid=1000,gid=1000,inode64\n";

/* Bind mounts: a data disk (vdb1, 254:17) mounted at /srv/data, its www directory
 * bound to /var/www (same maj:min, root /www), and a read-only bind of the whole disk
 * at /export/data (ro in the mount options only: the superblock stays rw). */
static const char SAMPLE_BIND[] =
	"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
	"80 26 254:17 / /srv/data rw,relatime shared:40 - ext4 /dev/vdb1 rw\n"
	"81 26 254:17 /www /var/www rw,relatime shared:40 - ext4 /dev/vdb1 rw\n"
	"82 26 254:17 / /export/data ro,relatime shared:40 - ext4 /dev/vdb1 rw\n";

/* Bind mounts, the read-only one first: the representative must be the first
 * read-write mount (/srv/data, id 83), not the first mount. */
static const char SAMPLE_BIND_RO_FIRST[] =
	"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
	"82 26 254:17 / /export/data ro,relatime shared:40 - ext4 /dev/vdb1 rw\n"
	"83 26 254:17 / /srv/data rw,relatime shared:40 - ext4 /dev/vdb1 rw\n";

/* Read-only, three ways: a disk whose every mount is ro (mount option), a disk whose
 * superblock went ro after an error (errors=remount-ro: the mount still says rw), and a
 * disk mounted rw once and ro once (a candidate). */
static const char SAMPLE_READONLY[] =
	"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
	"90 26 254:17 / /mnt/archive ro,relatime shared:50 - ext4 /dev/vdb1 rw\n"
	"91 26 254:17 / /srv/archive ro,nosuid,relatime shared:50 - ext4 /dev/vdb1 rw\n"
	"92 26 254:33 / /mnt/broken rw,relatime shared:51 - ext4 /dev/vdc1 ro,errors=remount-ro\n"
	"93 26 254:49 / /mnt/mixed ro,relatime shared:52 - xfs /dev/vdd1 rw,attr2,inode64,logbufs=8,logbsize=32k,noquota\n"
	"94 26 254:49 / /srv/mixed rw,relatime shared:52 - xfs /dev/vdd1 rw,attr2,inode64,logbufs=8,logbsize=32k,noquota\n";

/* btrfs root with subvolumes (the Debian installer's @, @home, @snapshots layout): one
 * superblock, anonymous device 0:26, source /dev/vda2, subvol= in the super options,
 * the subvolume in the root field. Plus vfat /boot/efi on vda1. */
static const char SAMPLE_BTRFS[] =
	"21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	"22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"26 1 0:26 /@ / rw,relatime shared:1 - btrfs /dev/vda2 rw,discard=async,space_cache=v2,subvolid=256,subvol=/@\n"
	"60 26 0:26 /@home /home rw,relatime shared:30 - btrfs /dev/vda2 rw,discard=async,space_cache=v2,subvolid=257,subvol=/@home\n"
	"61 26 0:26 /@snapshots /.snapshots rw,relatime shared:31 - btrfs /dev/vda2 rw,discard=async,space_cache=v2,subvolid=258,subvol=/@snapshots\n"
	"62 26 254:1 / /boot/efi rw,relatime shared:32 - vfat /dev/vda1 rw,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro\n";

/* Nested mounts: xfs /srv (vdb1), ext4 /srv/data on it (vdc1), ext4 /srv/data/deep on
 * that (vdd1), and ext4 /srv/tmp/x (vde1) on a tmpfs /srv/tmp: its holder is found by
 * walking the parent chain through the tmpfs (not a candidate) up to /srv. */
static const char SAMPLE_NESTED[] =
	"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
	"90 26 254:17 / /srv rw,relatime shared:50 - xfs /dev/vdb1 rw,attr2,inode64,logbufs=8,logbsize=32k,noquota\n"
	"91 90 254:33 / /srv/data rw,relatime shared:51 - ext4 /dev/vdc1 rw\n"
	"92 91 254:49 / /srv/data/deep rw,relatime shared:52 - ext4 /dev/vdd1 rw\n"
	"93 90 0:50 / /srv/tmp rw,nosuid,nodev,relatime shared:53 - tmpfs tmpfs rw,size=65536k,inode64\n"
	"94 93 254:65 / /srv/tmp/x rw,relatime shared:54 - ext4 /dev/vde1 rw\n";

/* Loop devices, as the test suite and ordinary systems make them:
 *   /tmp/q/mnt/b   ext4 on loop1, image /tmp/q/img/b.img (on the /tmp tmpfs)
 *   /tmp/q/mnt/a   ext4 on loop0, image /tmp/q/mnt/b/a.img (on b: b holds a)
 *   /tmp/q/mnt/b2  a later bind of b, so that reverse mount order alone would put b first
 *   /media/iso     iso9660 on loop2, read-only
 *   /snap/core22/1380  squashfs on loop3 (snapd), read-only
 *   /mnt/crypt     ext4 on dm-crypt (254:2) on loop4: loop-backed through the stack */
static const char SAMPLE_LOOP[] =
	"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
	"40 26 0:40 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,size=1016344k,nr_inodes=1048576,inode64\n"
	"111 40 7:1 / /tmp/q/mnt/b rw,relatime shared:61 - ext4 /dev/loop1 rw\n"
	"112 40 7:0 / /tmp/q/mnt/a rw,relatime shared:60 - ext4 /dev/loop0 rw\n"
	"113 40 7:1 / /tmp/q/mnt/b2 rw,relatime shared:61 - ext4 /dev/loop1 rw\n"
	"114 26 7:2 / /media/iso ro,relatime shared:62 - iso9660 /dev/loop2 ro,nojoliet,check=s,map=n,blocksize=2048,iocharset=utf8\n"
	"115 26 7:3 / /snap/core22/1380 ro,nodev,relatime shared:64 - squashfs /dev/loop3 ro,errors=continue,threads=single\n"
	"116 26 254:2 / /mnt/crypt rw,relatime shared:63 - ext4 /dev/mapper/crypt rw\n";

/* Docker: an overlay (source "overlay", not a block device), the container's nsfs
 * (root field "net:[...]", not a path), and a bind of a host directory. */
static const char SAMPLE_DOCKER[] =
	"26 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
	"120 26 0:55 / /var/lib/docker/overlay2/3f2a9c/merged rw,relatime shared:70 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC:/var/lib/docker/overlay2/l/DEF,upperdir=/var/lib/docker/overlay2/3f2a9c/diff,workdir=/var/lib/docker/overlay2/3f2a9c/work\n"
	"121 25 0:4 net:[4026532288] /run/docker/netns/8d7c2a rw shared:71 - nsfs nsfs rw\n"
	"122 120 254:1 /var/lib/docker/volumes/db/_data /var/lib/docker/overlay2/3f2a9c/merged/data rw,relatime - ext4 /dev/vda1 rw,errors=remount-ro\n";

#endif
