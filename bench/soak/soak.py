#!/usr/bin/env python3
"""Fault-injection soak: steady load on the HTTP, Redis (stream and list) and cron triggers while
the daemon is killed with SIGKILL and restarted, redis-server is restarted, and functions fail.
At the end every accepted event is accounted for: processed (recorded by the function) or
dead-lettered. Prints accepted, processed, dead-lettered, duplicates and lost; exits 1 if any
event was lost.

  bench/soak/soak.py BUILD_DIR [--seconds N] [--kill-every S] [--redis-restart-every S]

What counts as accepted:
- Redis: every entry XADDed / element RPUSHed (Redis acknowledged it). Entries whose data starts
  with "poison" always fail and must end in the dead-letter stream; the rest must be recorded.
- HTTP: every request answered 200 (the function records before it answers). Requests refused
  while the daemon is down are not accepted and not counted.
- Cron: a per-second schedule (misfire: run_once) must keep firing; ticks are reported, not
  counted as accepted (ticks missed while the daemon is down are a policy, not a loss).
"""

import argparse
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir)
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.cli("PING", check=False) == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=20)
        self.start()

    def cli(self, *args, check=True):
        result = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                                text=True)
        if check and result.returncode != 0:
            raise RuntimeError("redis-cli %s: %s" % (args, result.stderr))
        return result.stdout.strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)


class Daemon:
    def __init__(self, binary, config, log):
        self.binary, self.config, self.log = binary, config, log
        self.proc = None

    def start(self):
        out = open(self.log, "a")
        self.proc = subprocess.Popen([self.binary, "run", "--config", self.config],
                                     stdout=out, stderr=out)
        deadline = time.time() + 20
        while time.time() < deadline:
            with open(self.log) as f:
                if f.read().count(" ready: ") > self.starts:
                    self.starts += 1
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("the daemon exited at start; see " + self.log)
            time.sleep(0.05)
        raise RuntimeError("the daemon did not become ready; see " + self.log)

    starts = 0

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def lines(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    except FileNotFoundError:
        return []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build_dir")
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--kill-every", type=float, default=20)
    parser.add_argument("--redis-restart-every", type=float, default=45)
    parser.add_argument("--rate", type=int, default=200, help="Redis entries per second")
    args = parser.parse_args()

    build = os.path.abspath(args.build_dir)
    binary = os.path.join(build, "switchyard")
    recorder = os.path.join(build, "tests/integration/functions/libredis_recorder.so")
    record_id = os.path.join(build, "tests/integration/functions/librecord_id.so")
    for path in (binary, recorder, record_id):
        if not os.path.exists(path):
            sys.exit("missing %s: build the tests first (make test)" % path)

    work = tempfile.mkdtemp(prefix="switchyard-soak-")
    redis = Redis(work)
    http_port = free_port()
    os.makedirs(os.path.join(work, "functions.d"))
    os.makedirs(os.path.join(work, "state"))
    with open(os.path.join(work, "switchyard.yaml"), "w") as f:
        f.write("instance: soak\nworkers: 2\nmanifests: functions.d\nstate_dir: %s/state\n"
                "http: { address: 127.0.0.1, port: %d }\nadmin: { address: 127.0.0.1, port: 0 }\n"
                "logging: { level: info, format: text }\nlimits: { shutdown_timeout: 20s }\n"
                "redis: { url: \"redis://127.0.0.1:%d/0\", connect_timeout: 1s, command_timeout: 2s }\n"
                % (work, http_port, redis.port))

    def manifest(name, library, trigger, record, extra=""):
        with open(os.path.join(work, "functions.d", name + ".yaml"), "w") as f:
            f.write("name: %s\nlibrary: %s\nconcurrency: 4\nqueue: 50\ntimeout: 2s\n"
                    "retry: { attempts: 2, backoff: 20ms }\n%s"
                    "env:\n  RECORD_FILE: \"%s\"\ntriggers:\n  - %s\n"
                    % (name, library, extra, record, trigger))

    rec = {k: os.path.join(work, k + ".rec") for k in ("stream", "list", "http", "cron")}
    manifest("stream", recorder, "redis: { stream: soak, claim_after: 5s }", rec["stream"],
             "dead_letter: { redis_stream: soak-dlq }\n")
    manifest("list", recorder, "redis: { list: soakq }", rec["list"],
             "dead_letter: { redis_stream: soakq-dlq }\n")
    manifest("web", recorder, "http: { path: /web, methods: [POST] }", rec["http"])
    manifest("tick", record_id, "cron: { schedule: \"* * * * * *\", misfire: run_once }",
             rec["cron"])

    daemon = Daemon(binary, os.path.join(work, "switchyard.yaml"), os.path.join(work, "daemon.log"))
    daemon.start()

    produced = {"stream": [], "list": []}
    http_ok = []
    stop = threading.Event()
    redis_down = threading.Lock()

    def produce():
        n = 0
        while not stop.is_set():
            n += 1
            poison = n % 97 == 0
            if n % 2:
                data = ("poison-s%d" if poison else "s%d") % n
                key, command = "stream", ["XADD", "soak", "*", "data", data]
            else:
                data = ("poison-l%d" if poison else "l%d") % n
                key, command = "list", ["RPUSH", "soakq", data]
            with redis_down:
                result = subprocess.run(["redis-cli", "-p", str(redis.port), *command],
                                        capture_output=True, text=True)
            if result.returncode == 0 and result.stdout.strip() and \
                    not result.stdout.startswith("ERR") and "refused" not in result.stdout:
                produced[key].append(command[-1])
            time.sleep(1.0 / args.rate)

    def requests():
        n = 0
        while not stop.is_set():
            n += 1
            body = "h%d" % n
            try:
                conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                conn.request("POST", "/web", body=body)
                if conn.getresponse().status == 200:
                    http_ok.append(body)
                conn.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)

    threads = [threading.Thread(target=produce), threading.Thread(target=requests)]
    for t in threads:
        t.start()

    kills = redis_restarts = 0
    begin = time.time()
    next_kill = begin + args.kill_every
    next_redis = begin + args.redis_restart_every
    while time.time() - begin < args.seconds:
        now = time.time()
        if now >= next_kill:
            daemon.kill()
            kills += 1
            time.sleep(random.uniform(0.2, 2.0))
            daemon.start()
            next_kill = now + args.kill_every * random.uniform(0.5, 1.5)
        if now >= next_redis:
            with redis_down:
                redis.restart()
            redis_restarts += 1
            next_redis = now + args.redis_restart_every * random.uniform(0.5, 1.5)
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()

    # Let the daemon finish what is in Redis, then stop it cleanly.
    deadline = time.time() + 120
    while time.time() < deadline:
        pending = redis.cli("XPENDING", "soak", "switchyard").split("\n")[0] if \
            redis.cli("EXISTS", "soak") == "1" else "0"
        lag = redis.cli("XINFO", "GROUPS", "soak")
        list_left = int(redis.cli("LLEN", "soakq") or 0)
        processing = int(redis.cli("LLEN", "soakq:processing:soak-list") or 0)
        lag_value = lag.split("\n")[lag.split("\n").index("lag") + 1] if "lag" in lag else "0"
        if pending == "0" and lag_value in ("0", "") and list_left == 0 and processing == 0:
            break
        time.sleep(0.5)
    exit_code = daemon.stop()

    def dead_lettered(stream):
        out = redis.cli("XRANGE", stream, "-", "+").split("\n")
        return [out[i + 1] for i, v in enumerate(out[:-1]) if v == "data"]

    ok = True
    print("soak: %d s, %d kill -9 of the daemon, %d redis-server restarts, clean exit %s"
          % (args.seconds, kills, redis_restarts, exit_code == 0))
    for key, dlq in (("stream", "soak-dlq"), ("list", "soakq-dlq")):
        accepted = produced[key]
        seen = lines(rec[key])
        dead = dead_lettered(dlq)
        seen_set, dead_set = set(seen), set(dead)
        poison = [d for d in accepted if "poison" in d]
        lost = [d for d in accepted if d not in seen_set and d not in dead_set]
        misfiled = [d for d in poison if d not in dead_set]
        # A poison entry is seen once per attempt; duplicates count the others only.
        healthy = [d for d in seen if "poison" not in d]
        print("  redis %-6s accepted %7d  processed %7d  dead-lettered %5d  duplicates %5d  lost %d"
              % (key, len(accepted), len(set(healthy)), len(dead_set),
                 len(healthy) - len(set(healthy)), len(lost)))
        if lost or misfiled:
            ok = False
            print("    lost (first 10): %s; poison not dead-lettered: %d" % (lost[:10], len(misfiled)))
    http_seen = set(lines(rec["http"]))
    http_lost = [b for b in http_ok if b not in http_seen]
    print("  http         answered 200 %7d  recorded %7d  lost %d"
          % (len(http_ok), len(http_seen), len(http_lost)))
    ok = ok and not http_lost
    ticks = lines(rec["cron"])
    print("  cron         ticks run %d (%d distinct) over %d s"
          % (len(ticks), len(set(ticks)), args.seconds))
    redis.stop()
    if ok:
        shutil.rmtree(work)
        print("lost = 0")
        return 0
    print("LOST EVENTS; work dir kept: " + work)
    return 1


if __name__ == "__main__":
    sys.exit(main())
