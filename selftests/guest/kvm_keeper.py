#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
Holds one idle KVM VM (an irqchip and one vCPU that never runs).

Creating the first VM and destroying the last flip KVM's static keys
(preempt notifiers), i.e. patch the running kernel's text.  Under the
test VM's TCG that now and then runs stale code and ends in an int3 Oops
in __schedule, "Fatal exception in interrupt", in the test VM itself.
With a VM held open, guests coming and going patch nothing.

As a module: hold() returns the fds (keep them for as long as needed).
As a script: holds the VM until killed (selftests/vm/run.sh does this
for the whole VM test run).
"""
import fcntl
import os
import signal

KVM_CREATE_VM = 0xae01
KVM_CREATE_VCPU = 0xae41
KVM_CREATE_IRQCHIP = 0xae60


def hold():
    """Returns (kvm, vm, vcpu) fds; raises OSError without KVM."""
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    fcntl.ioctl(vm, KVM_CREATE_IRQCHIP, 0)
    return kvm, vm, fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)


if __name__ == "__main__":
    fds = hold()
    signal.pause()
