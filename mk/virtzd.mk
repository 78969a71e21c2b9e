# SPDX-License-Identifier: GPL-2.0
#
# virtzd (the VMM), the registry/guest/balloon objects of virtzctl, their
# tests, fuzzer and nested-guest initramfs.  Included by the top-level
# Makefile.

VIRTZD_SRCS += user/virtzd/kvm.c user/virtzd/boot.c user/virtzd/mptable.c \
	user/virtzd/serial.c user/virtzd/control.c user/virtzd/registry.c \
	user/virtzd/pci.c user/virtzd/virtio_pci.c user/virtzd/virtq.c \
	user/virtzd/balloon.c user/virtzd/cpuid.c user/virtzd/rtc.c \
	user/virtzd/kcache.c user/virtzd/vmlinux.c \
	user/lib/genl.c user/lib/vzctlsock.c
VIRTZD_LDLIBS += -lpthread

VIRTZCTL_SRCS += user/virtzctl/cmd_env.c user/virtzctl/cmd_guest.c \
	user/virtzctl/cmd_balloon.c user/lib/vzctlsock.c user/lib/regclient.c

# The virtqueue parser: host unit tests of hostile rings, and a fuzzer.
HOST_TESTS += virtq_test
virtq_test_SRCS := selftests/host/virtq_test.c user/virtzd/virtq.c

# The decompressed-kernel cache of --decompress host.
HOST_TESTS += kcache_test
kcache_test_SRCS := selftests/host/kcache_test.c user/virtzd/kcache.c

# The vmlinux reader and KASLR relocation of virtzd's host-side boot.
HOST_TESTS += vmlinux_test
vmlinux_test_SRCS := selftests/host/vmlinux_test.c user/virtzd/vmlinux.c

FUZZERS += virtq
virtq_SRCS := fuzz/virtq_fuzz.c user/virtzd/virtq.c

# The vmlinux reader of the host-side boot (KASLR relocations).
FUZZERS += vmlinux
vmlinux_SRCS := fuzz/vmlinux_fuzz.c user/virtzd/vmlinux.c

# In-VM tests are the scripts selftests/vm/test_virtzd_*.py; they build
# the nested guest's initramfs with selftests/guest/mkguest.sh.
