#!/usr/bin/env python3
"""Fault-injection soak: steady load on the HTTP, Redis (stream and list), Kafka and cron triggers
while the daemon is killed with SIGKILL and restarted, redis-server is restarted, the Kafka
cluster (librdkafka's mock, the kafka_mock process) fails requests and loses a broker for a few
seconds, and functions fail, throw and time out. At the end every accepted event is accounted
for, by identity: processed (recorded by the function) or dead-lettered. Prints, per source,
accepted, processed, dead-lettered, duplicates and lost; exits 1 if any event was lost (printing
the first lost ones and keeping the work dir).

  bench/soak/soak.py BUILD_DIR [--seconds N] [--kill-every S] [--redis-restart-every S]
                     [--rate N] [--kafka-rate N] [--kafka-fault-every S] [--keep]

The work dir (kept on a loss, or with --keep) holds the daemon's log, what each function
recorded, and events.log: when each fault was injected.

What counts as accepted:
- Redis: every entry XADDed / element RPUSHed (Redis acknowledged it).
- Kafka: every record the producer had acknowledged (topic soak-k, 4 partitions).
- HTTP: every request answered 200 (the function records before it answers). Requests refused
  while the daemon is down are not accepted and not counted.
- HTTP async: every request with X-Amz-Invocation-Type: Event answered 202 (written to the
  durable queue); it must be recorded or end in its dead-letter stream, kills notwithstanding.
- Cron: a per-second schedule (misfire: run_once) must keep firing; ticks are reported, not
  counted as accepted (ticks missed while the daemon is down are a policy, not a loss).

Faulty events (Redis and Kafka): data starting with "poison" fails (an error result), "throw"
throws a C++ exception (through the C++ SDK), "hang" sleeps past the function's timeout. Each is
retried once, then must end in the dead-letter stream / topic; healthy events must be recorded
(or, if they happened to fail twice, dead-lettered). The stream and Kafka functions are
fault_recorder (poison, throw, hang); the list and HTTP functions are redis_recorder (poison);
the asynchronous HTTP function is fault_recorder (poison, hang).
processed = accepted healthy events recorded (distinct); dead-lettered = accepted events in the
dead-letter stream / topic (distinct); duplicates = further records of processed events;
lost = accepted - processed - dead-lettered.
"""

import argparse
import http.client
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

FAULTS = ("poison", "throw", "hang")
KAFKA_TOPIC, KAFKA_PARTITIONS, KAFKA_DLQ, KAFKA_GROUP = "soak-k", 4, "soak-k-dlq", "soak-kafka"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fault_of(data):
    return next((f for f in FAULTS if data.startswith(f)), None)


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


class KafkaMock:
    """The kafka_mock process (tests/integration/kafka_mock_main.cc) and its stdin commands."""

    def __init__(self, binary, workdir):
        self.err = open(os.path.join(workdir, "kafka_mock.err"), "w")
        self.proc = subprocess.Popen([binary, KAFKA_TOPIC, str(KAFKA_PARTITIONS), "0"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1)
        self.lock = threading.Lock()
        line = self.proc.stdout.readline()
        if not line.startswith("bootstrap "):
            raise RuntimeError("kafka_mock did not start; see %s/kafka_mock.err" % workdir)
        self.bootstrap = line.split()[1]
        self.command("topic %s 1" % KAFKA_DLQ)

    def _send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError("kafka_mock exited")
        return answer.rstrip("\n")

    def command(self, line):
        with self.lock:
            answer = self._send(line)
        if answer.startswith("error"):
            raise RuntimeError("kafka_mock %r: %s" % (line, answer))
        return answer

    def produce(self, topic, count, prefix):
        """The values produced, if the mock had them all acknowledged; else []."""
        with self.lock:
            answer = self._send("produce %s %d %s" % (topic, count, prefix))
        if answer == "produced %d" % count:
            return ["%s%d" % (prefix, i) for i in range(count)]
        return []

    def read(self, topic, partitions, timeout_ms):
        """Every value of `topic`, and whether all of it was read within the timeout."""
        values = []
        with self.lock:
            self.proc.stdin.write("read %s %d %d\n" % (topic, partitions, timeout_ms))
            self.proc.stdin.flush()
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError("kafka_mock exited")
                if line.startswith("record "):
                    values.append(line.rstrip("\n").split(" ", 3)[3])
                elif line.startswith("end "):
                    _, read, expected = line.split()
                    return values, int(read) >= int(expected)
                else:
                    raise RuntimeError("kafka_mock read: " + line)

    def outage(self, broker, seconds):
        # Holds the command lock: a produce meanwhile would wait for the broker anyway, and the
        # mock runs one command at a time, so it could not take the "up".
        with self.lock:
            self._send("down %d" % broker)
            time.sleep(seconds)
            self._send("up %d" % broker)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Daemon:
    def __init__(self, binary, config, log):
        self.binary, self.config, self.log = binary, config, log
        self.proc = None
        self.starts = 0

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

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


def recorded(path):
    """The data of every recorded line (the first word: fault_recorder adds the event id)."""
    try:
        with open(path) as f:
            return [line.split(" ", 1)[0].rstrip("\n") for line in f if line.strip()]
    except FileNotFoundError:
        return []


class Tally:
    """accepted vs processed / dead-lettered, by identity."""

    def __init__(self, accepted, seen, dead):
        self.accepted = accepted
        accepted_set = set(accepted)
        # Only accepted events count (an HTTP request recorded but never answered does not).
        healthy = [d for d in seen if not fault_of(d) and d in accepted_set]
        self.processed = set(healthy)
        self.duplicates = len(healthy) - len(self.processed)
        self.dead = set(dead) & accepted_set
        self.lost = [d for d in accepted if d not in self.processed and d not in self.dead]
        self.attempts = {f: sum(1 for d in seen if d.startswith(f)) for f in FAULTS}

    def line(self, label):
        faulty = {f: sum(1 for d in self.accepted if d.startswith(f)) for f in FAULTS}
        dead = {f: sum(1 for d in self.dead if d.startswith(f)) for f in FAULTS}
        healthy_dead = sum(1 for d in self.dead if not fault_of(d))
        text = ("  %-12s accepted %7d  processed %7d  dead-lettered %5d  duplicates %5d  lost %d"
                % (label, len(self.accepted), len(self.processed), len(self.dead), self.duplicates,
                   len(self.lost)))
        detail = ", ".join("%s %d/%d (%d attempts)" % (f, dead[f], faulty[f], self.attempts[f])
                           for f in FAULTS if faulty[f] or self.attempts[f])
        if detail or healthy_dead:
            text += "\n  %-12s dead-lettered/accepted: %s; healthy dead-lettered %d" % (
                "", detail or "none faulty", healthy_dead)
        return text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build_dir")
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--kill-every", type=float, default=20)
    parser.add_argument("--redis-restart-every", type=float, default=45)
    parser.add_argument("--rate", type=int, default=200, help="Redis entries per second")
    parser.add_argument("--kafka-rate", type=int, default=100, help="Kafka records per second")
    parser.add_argument("--kafka-fault-every", type=float, default=5,
                        help="seconds between Kafka faults (request errors, a broker down)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir even without loss")
    args = parser.parse_args()

    build = os.path.abspath(args.build_dir)
    binary = os.path.join(build, "switchyard")
    functions = os.path.join(build, "tests/integration/functions")
    recorder = os.path.join(functions, "libredis_recorder.so")
    faulty = os.path.join(functions, "libfault_recorder.so")
    record_id = os.path.join(functions, "librecord_id.so")
    mock_binary = os.path.join(build, "tests/integration/kafka_mock")
    for path in (binary, recorder, faulty, record_id, mock_binary):
        if not os.path.exists(path):
            sys.exit("missing %s: build the tests first (make test)" % path)

    work = tempfile.mkdtemp(prefix="switchyard-soak-")
    redis = mock = None
    try:
        redis = Redis(work)
        mock = KafkaMock(mock_binary, work)
        return run(args, work, binary, recorder, faulty, record_id, redis, mock)
    except Exception:
        print("soak failed; work dir kept: " + work, file=sys.stderr)
        raise
    finally:
        for service in (redis, mock):
            if service:
                try:
                    service.stop()
                except Exception as e:  # noqa: BLE001 - cleanup goes on
                    print("cleanup: %s" % e, file=sys.stderr)


def run(args, work, binary, recorder, faulty, record_id, redis, mock):
    http_port = free_port()
    os.makedirs(os.path.join(work, "functions.d"))
    os.makedirs(os.path.join(work, "state"))
    with open(os.path.join(work, "switchyard.yaml"), "w") as f:
        f.write("instance: soak\nworkers: 2\nmanifests: functions.d\nstate_dir: %s/state\n"
                "http: { address: 127.0.0.1, port: %d }\nadmin: { address: 127.0.0.1, port: 0 }\n"
                "logging: { level: info, format: text }\nlimits: { shutdown_timeout: 20s }\n"
                "redis: { url: \"redis://127.0.0.1:%d/0\", connect_timeout: 1s, command_timeout: 2s }\n"
                "kafka:\n  brokers: \"%s\"\n  properties:\n"
                # A killed member leaves the group within 3 s, not 45 s.
                "    session.timeout.ms: \"3000\"\n    heartbeat.interval.ms: \"300\"\n"
                % (work, http_port, redis.port, mock.bootstrap))

    def manifest(name, library, trigger, record, extra="", timeout="2s", concurrency=4, env=""):
        with open(os.path.join(work, "functions.d", name + ".yaml"), "w") as f:
            f.write("name: %s\nlibrary: %s\nconcurrency: %d\nqueue: 50\ntimeout: %s\n"
                    "retry: { attempts: 2, backoff: 20ms }\n%s"
                    "env:\n  RECORD_FILE: \"%s\"\n%striggers:\n  - %s\n"
                    % (name, library, concurrency, timeout, extra, record, env, trigger))

    # fault_recorder: "hang" sleeps 800 ms against a 300 ms timeout; the slot stays taken until it
    # returns, hence 8 slots.
    hang_env = "  HANG_MS: \"800\"\n"
    rec = {k: os.path.join(work, k + ".rec")
           for k in ("stream", "list", "http", "async", "cron", "kafka")}
    manifest("stream", faulty, "redis: { stream: soak, claim_after: 5s }", rec["stream"],
             "dead_letter: { redis_stream: soak-dlq }\n", timeout="300ms", concurrency=8,
             env=hang_env)
    manifest("list", recorder, "redis: { list: soakq }", rec["list"],
             "dead_letter: { redis_stream: soakq-dlq }\n")
    manifest("web", recorder, "http: { path: /web, methods: [POST] }", rec["http"])
    manifest("webasync", faulty, "http: { path: /webasync, methods: [POST] }", rec["async"],
             "dead_letter: { redis_stream: webasync-dlq }\n", timeout="300ms", concurrency=8,
             env=hang_env)
    manifest("tick", record_id, "cron: { schedule: \"* * * * * *\", misfire: run_once }",
             rec["cron"])
    manifest("orders", faulty,
             "kafka: { topic: %s, ordering: partition, group_id: %s }" % (KAFKA_TOPIC, KAFKA_GROUP),
             rec["kafka"], "dead_letter: { kafka_topic: %s }\n" % KAFKA_DLQ, timeout="300ms",
             concurrency=8, env=hang_env)

    daemon = Daemon(binary, os.path.join(work, "switchyard.yaml"), os.path.join(work, "daemon.log"))
    daemon.start()
    try:
        return soak(args, work, daemon, redis, mock, http_port, rec)
    finally:
        if daemon.proc.poll() is None:
            daemon.kill()


def soak(args, work, daemon, redis, mock, http_port, rec):
    produced = {"stream": [], "list": [], "kafka": []}
    http_ok = []
    async_ok = []
    stop = threading.Event()
    redis_down = threading.Lock()
    kafka_faults = {}
    errors = []
    events = open(os.path.join(work, "events.log"), "a")

    def note(text):
        events.write("%s %s\n" % (time.strftime("%H:%M:%S", time.localtime()), text))
        events.flush()

    def guarded(target):
        def body():
            try:
                target()
            except Exception as e:  # noqa: BLE001 - reported at the end
                errors.append("%s: %r" % (target.__name__, e))
                stop.set()
        return threading.Thread(target=body, name=target.__name__)

    def produce():
        n = 0
        while not stop.is_set():
            n += 1
            if n % 2:
                # The stream's function fails, throws or hangs on these.
                kind = "poison-" if n % 97 == 0 else "throw-" if n % 89 == 0 else \
                    "hang-" if n % 193 == 0 else ""
                data = "%ss%d" % (kind, n)
                key, command = "stream", ["XADD", "soak", "*", "data", data]
            else:
                data = ("poison-l%d" if n % 97 == 0 else "l%d") % n
                key, command = "list", ["RPUSH", "soakq", data]
            with redis_down:
                result = subprocess.run(["redis-cli", "-p", str(redis.port), *command],
                                        capture_output=True, text=True)
            if result.returncode == 0 and result.stdout.strip() and \
                    not result.stdout.startswith("ERR") and "refused" not in result.stdout:
                produced[key].append(command[-1])
            time.sleep(1.0 / args.rate)

    def produce_kafka():
        # Ten batches a second of healthy records, and now and then a faulty one alone.
        per_batch = max(1, args.kafka_rate // 10)
        tick = 0
        next_at = time.time()
        while not stop.is_set():
            tick += 1
            produced["kafka"].extend(mock.produce(KAFKA_TOPIC, per_batch, "k%d-" % tick))
            for kind, every in (("poison", 7), ("throw", 11), ("hang", 29)):
                if tick % every == 0:
                    produced["kafka"].extend(mock.produce(KAFKA_TOPIC, 1, "%s-k%d-" % (kind, tick)))
            next_at += 0.1
            stop.wait(max(0.0, next_at - time.time()))

    def inject_kafka_faults():
        # In turn: Fetch errors, OffsetCommit errors, a broker down, a forced rebalance
        # (Heartbeat answered REBALANCE_IN_PROGRESS), dropped Fetch connections.
        faults = [
            ("fetch NOT_LEADER_OR_FOLLOWER x20", lambda: mock.command("errors 1 20 6")),
            ("commit COORDINATOR_NOT_AVAILABLE x5", lambda: mock.command("errors 8 5 15")),
            ("broker down 2-3.5 s",
             lambda: mock.outage(random.randint(1, 3), random.uniform(2.0, 3.5))),
            ("heartbeat REBALANCE_IN_PROGRESS x2", lambda: mock.command("errors 12 2 27")),
            ("fetch transport errors x5", lambda: mock.command("errors 1 5 -195")),
            ("commit NOT_COORDINATOR x3", lambda: mock.command("errors 8 3 16")),
        ]
        i = 0
        while not stop.wait(args.kafka_fault_every * random.uniform(0.5, 1.5)):
            name, inject = faults[i % len(faults)]
            note("kafka: " + name)
            inject()
            kafka_faults[name] = kafka_faults.get(name, 0) + 1
            i += 1

    def requests():
        # In turn a synchronous request (accepted when answered 200) and an asynchronous one
        # (accepted when answered 202: written to the durable queue).
        n = 0
        while not stop.is_set():
            n += 1
            asynchronous = n % 2 == 0
            if asynchronous:
                kind = "poison-" if n % 94 == 0 else "hang-" if n % 386 == 0 else ""
                body, path, headers = "%sa%d" % (kind, n), "/webasync", \
                    {"X-Amz-Invocation-Type": "Event"}
            else:
                body, path, headers = "h%d" % n, "/web", {}
            try:
                conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
                conn.request("POST", path, body=body, headers=headers)
                status = conn.getresponse().status
                if status == 200 and not asynchronous:
                    http_ok.append(body)
                elif status == 202 and asynchronous:
                    async_ok.append(body)
                conn.close()
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)

    threads = [guarded(t) for t in (produce, produce_kafka, inject_kafka_faults, requests)]
    for t in threads:
        t.start()

    kills = redis_restarts = 0
    begin = time.time()
    next_kill = begin + args.kill_every
    next_redis = begin + args.redis_restart_every
    try:
        while time.time() - begin < args.seconds and not stop.is_set():
            now = time.time()
            if now >= next_kill:
                note("daemon: kill -9")
                daemon.kill()
                kills += 1
                time.sleep(random.uniform(0.2, 2.0))
                daemon.start()
                note("daemon: ready again")
                next_kill = now + args.kill_every * random.uniform(0.5, 1.5)
            if now >= next_redis:
                note("redis-server: restart")
                with redis_down:
                    redis.restart()
                redis_restarts += 1
                next_redis = now + args.redis_restart_every * random.uniform(0.5, 1.5)
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    note("load stopped; draining")
    if errors:
        print("soak aborted: %s; work dir kept: %s" % ("; ".join(errors), work))
        return 1

    def dead_letters(stream):
        """(data, error_type) of every dead letter in `stream`."""
        out = redis.cli("XRANGE", stream, "-", "+").split("\n")
        letters, error_type = [], None
        for i, v in enumerate(out[:-1]):
            if v == "error_type":
                error_type = out[i + 1]
            elif v == "data":
                letters.append((out[i + 1], error_type))
        return letters

    def dead_lettered(stream):
        return [data for data, _ in dead_letters(stream)]

    def redis_drained():
        pending = redis.cli("XPENDING", "soak", "switchyard").split("\n")[0] if \
            redis.cli("EXISTS", "soak") == "1" else "0"
        lag = redis.cli("XINFO", "GROUPS", "soak")
        list_left = int(redis.cli("LLEN", "soakq") or 0)
        processing = int(redis.cli("LLEN", "soakq:processing:soak-list") or 0)
        # XINFO GROUPS prints "lag" then its value, or nothing after it when Redis cannot
        # compute it (nil, e.g. after a restart): that counts as unknown, as "".
        lines = lag.split("\n")
        lag_value = "0"
        if "lag" in lines:
            at = lines.index("lag")
            lag_value = lines[at + 1] if at + 1 < len(lines) else ""
        return pending == "0" and lag_value in ("0", "") and list_left == 0 and processing == 0

    def kafka_missing():
        processed = {d for d in recorded(rec["kafka"]) if not fault_of(d)}
        missing = [d for d in produced["kafka"] if d not in processed]
        if missing:
            dead = set(mock.read(KAFKA_DLQ, 1, 5000)[0])
            missing = [d for d in missing if d not in dead]
        return missing

    def async_missing():
        processed = {d for d in recorded(rec["async"]) if not fault_of(d)}
        missing = [d for d in async_ok if d not in processed]
        if missing:
            dead = set(dead_lettered("webasync-dlq"))
            missing = [d for d in missing if d not in dead]
        return missing

    # How much of the Kafka load had been worked off under the faults, before the drain.
    kafka_during = len({d for d in recorded(rec["kafka"]) if not fault_of(d)} &
                       set(produced["kafka"]))

    # Let the daemon finish what is in Redis and Kafka, then stop it cleanly.
    drain_began = time.time()
    deadline = drain_began + 150
    redis_done = kafka_done = async_done = False
    while time.time() < deadline and not (redis_done and kafka_done and async_done):
        redis_done = redis_done or redis_drained()
        kafka_done = kafka_done or not kafka_missing()
        async_done = async_done or not async_missing()
        if not (redis_done and kafka_done and async_done):
            time.sleep(1)
    drain_seconds = time.time() - drain_began
    exit_code = daemon.stop()

    dlq_values, dlq_complete = mock.read(KAFKA_DLQ, 1, 20000)
    with open(daemon.log) as f:
        log = f.read()
    failures = re.findall(r"function (\S+) event \S+ failed \((.+?): ", log)
    by_type = {}
    for function, error_type in failures:
        by_type.setdefault(function, {}).setdefault(error_type, 0)
        by_type[function][error_type] += 1

    ok = True
    drain = "drained in %.0f s" % drain_seconds if redis_done and kafka_done and async_done else \
        "drain gave up after %.0f s (redis done %s, kafka done %s, async done %s)" % (
            drain_seconds, redis_done, kafka_done, async_done)
    print("soak: %d s, %d kill -9 of the daemon, %d redis-server restarts, %s, clean exit %s"
          % (args.seconds, kills, redis_restarts, drain, exit_code == 0))
    print("  kafka faults: %s" % (", ".join("%s: %d" % kv for kv in kafka_faults.items())
                                  or "none"))
    print("  kafka healthy records processed before the drain: %d of %d accepted"
          % (kafka_during, sum(1 for d in produced["kafka"] if not fault_of(d))))
    print("  daemon log: %d timeouts; failed attempts retried, by function and error type: %s"
          % (log.count(" timed out after "),
             "; ".join("%s %s" % (f, ", ".join("%s %d" % kv for kv in sorted(types.items())))
                       for f, types in sorted(by_type.items()))))
    stream_types = [t for _, t in dead_letters("soak-dlq")]
    print("  redis stream dead letters by error type: %s"
          % ", ".join("%s %d" % (t, stream_types.count(t)) for t in sorted(set(stream_types))))
    tallies = [("redis stream", Tally(produced["stream"], recorded(rec["stream"]),
                                      dead_lettered("soak-dlq"))),
               ("redis list", Tally(produced["list"], recorded(rec["list"]),
                                    dead_lettered("soakq-dlq"))),
               ("kafka", Tally(produced["kafka"], recorded(rec["kafka"]), dlq_values)),
               ("http", Tally(http_ok, recorded(rec["http"]), [])),
               ("http async", Tally(async_ok, recorded(rec["async"]),
                                    dead_lettered("webasync-dlq")))]
    for label, tally in tallies:
        print(tally.line(label))
        if tally.lost:
            ok = False
            print("    lost (first 10): %s" % tally.lost[:10])
    if not dlq_complete:
        print("  (the Kafka dead-letter topic could not be read to its end)")
    if tallies[2][1].lost:
        print("  kafka committed offsets: %s"
              % mock.command("committed %s %s %d" % (KAFKA_GROUP, KAFKA_TOPIC, KAFKA_PARTITIONS)))
    ticks = recorded(rec["cron"])
    print("  %-12s ticks run %d (%d distinct) over %d s"
          % ("cron", len(ticks), len(set(ticks)), args.seconds))
    if ok:
        if args.keep:
            print("work dir kept: " + work)
        else:
            shutil.rmtree(work)
        print("lost = 0")
        return 0
    print("LOST EVENTS; work dir kept: " + work)
    return 1


if __name__ == "__main__":
    sys.exit(main())
