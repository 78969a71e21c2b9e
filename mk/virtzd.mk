# SPDX-License-Identifier: GPL-2.0
#
# virtzd (the VMM), the registry/guest/balloon objects of virtzctl, their
# tests, fuzzer and nested-guest initramfs.  Included by the top-level
# Makefile.

VIRTZD_SRCS += user/virtzd/kvm.c user/virtzd/boot.c user/virtzd/mptable.c \
	user/virtzd/serial.c user/virtzd/control.c user/virtzd/registry.c \
	user/virtzd/pci.c user/virtzd/virtio_pci.c user/virtzd/virtq.c \
	user/virtzd/balloon.c \
	user/lib/genl.c user/lib/vzctlsock.c
VIRTZD_LDLIBS += -lpthread

VIRTZCTL_SRCS += user/virtzctl/cmd_env.c user/virtzctl/cmd_guest.c \
	user/virtzctl/cmd_balloon.c user/lib/vzctlsock.c user/lib/regclient.c
