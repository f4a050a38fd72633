#!/usr/bin/env python3
"""Drives one migration over QMP (vmm or QEMU) and prints its final query-migrate as JSON.

usage: qmp_migrate.py SRC_QMP_SOCKET URI XBZRLE(0|1) [PARAM=VALUE ...]
       qmp_migrate.py QMP_SOCKET quit
"""
import json, socket, sys, time


def connect(path):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(600):
        try:
            s.connect(path)
            break
        except OSError:
            time.sleep(0.1)
    f = s.makefile("rw")
    f.readline()

    def execute(cmd, args=None):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        f.write(json.dumps(msg) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise SystemExit(f"{cmd}: {r['error']}")
            return r.get("return")

    execute("qmp_capabilities")
    return execute


def main():
    sock, uri = sys.argv[1], sys.argv[2]
    ex = connect(sock)
    if uri == "quit":                      # usage: qmp_migrate.py SOCKET quit
        ex("quit")
        return
    xbzrle = sys.argv[3] == "1"
    ex("migrate-set-capabilities", {"capabilities": [{"capability": "xbzrle", "state": xbzrle}]})
    for kv in sys.argv[4:]:
        k, v = kv.split("=", 1)
        ex("migrate-set-parameters", {k: int(v) if v.isdigit() else v})
    ex("migrate", {"uri": uri})
    while True:
        time.sleep(0.2)
        r = ex("query-migrate")
        if r.get("status") in ("completed", "failed", "cancelled"):
            break
    print(json.dumps(r))
    ex("quit")


if __name__ == "__main__":
    main()
