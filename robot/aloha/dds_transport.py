"""ROS 2 on the wire without ROS: Cyclone DDS with ROS 2's topic and type naming.

Topic ``/x`` is DDS topic ``rt/x``; QoS as ROS 2 defaults (reliable, keep-last 10, volatile;
sensor data best-effort, keep-last 5). Services follow rmw_cyclonedds: requests on
``rq/<service>Request`` and replies on ``rr/<service>Reply``, each starting with the client's
id and a sequence number. That interoperates with a ROS 2 node running
``rmw_cyclonedds_cpp``, not with Humble's default Fast DDS (services do not cross vendors).

Received messages are handed over on Cyclone's listener thread: callbacks must be short.
"""

from __future__ import annotations

import gc
import itertools
import random
import threading
import time
from typing import Any, Callable

from cyclonedds.core import Entity, Listener, Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from robot.aloha.messages import REQUEST_HEADER
from robot.aloha.transport import Subscription, Transport, TransportError

_XCDR1 = Policy.DataRepresentation(use_cdrv0_representation=True)
ROS_DEFAULT_QOS = Qos(Policy.Reliability.Reliable(duration(milliseconds=100)), Policy.History.KeepLast(10),
                      Policy.Durability.Volatile, _XCDR1)
SENSOR_DATA_QOS = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(5), Policy.Durability.Volatile, _XCDR1)


def loopback_config() -> str:
    """Cyclone configuration for one machine only: the loopback interface, unicast discovery.

    For tests and the simulated node; set it as $CYCLONEDDS_URI before the first participant."""
    return ("<CycloneDDS><Domain Id=\"any\"><General><Interfaces><NetworkInterface name=\"lo\"/></Interfaces>"
            "<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto</ParticipantIndex>"
            "<MaxAutoParticipantIndex>40</MaxAutoParticipantIndex>"
            "<Peers><Peer address=\"127.0.0.1\"/></Peers></Discovery></Domain></CycloneDDS>")


def dds_topic_name(ros_name: str, prefix: str = "rt") -> str:
    if not ros_name.startswith("/"):
        raise ValueError(f"ROS name {ros_name!r}; expected an absolute name starting with '/'")
    return prefix + ros_name


_gc_pause_lock = threading.Lock()
_gc_pauses = 0


class _GarbageCollectionPaused:
    """No cyclic garbage collection while inside Cyclone: the collector may finalize an unreachable
    DDS entity on whatever thread allocates, and deleting an entity from inside a listener callback
    (or while listeners are being detached) waits for that very callback -- a deadlock, seen
    in the suite: write -> local delivery -> take -> GC -> Entity.__del__ -> dds_writer_close.
    Nested and cross-thread uses count; the last one out re-enables the collector."""

    def __enter__(self):
        global _gc_pauses
        with _gc_pause_lock:
            _gc_pauses += 1
            gc.disable()

    def __exit__(self, *exc):
        global _gc_pauses
        with _gc_pause_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0:
                gc.enable()


class _Delivering(Listener):
    def __init__(self, deliver: Callable[[Any], None]):
        super().__init__()
        self._deliver = deliver

    def on_data_available(self, reader) -> None:
        if reader is None:  # a reader being deleted at close
            return
        with _GarbageCollectionPaused():
            samples = reader.take(N=32)
        for sample in samples:
            if type(sample) is reader.topic.data_type:  # skip invalid samples (disposals)
                self._deliver(sample)


class DdsTransport(Transport):
    name = "Cyclone DDS"

    def __init__(self, domain_id: int = 0):
        self.domain_id = domain_id
        self.participant = DomainParticipant(domain_id)
        self._topics: dict[str, Topic] = {}
        self._entities: list = []  # readers and writers, kept alive
        self._client_id = random.getrandbits(63)
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        self._clients: dict[str, tuple] = {}
        self._writers: dict[str, DataWriter] = {}
        self._closed = threading.Event()
        self._answer_threads: list[threading.Thread] = []

    def _topic(self, name: str, message_type: type) -> Topic:
        with self._lock:
            topic = self._topics.get(name)
            if topic is None:
                topic = self._topics[name] = Topic(self.participant, name, message_type)
            elif topic.data_type is not message_type:
                raise TransportError(f"topic {name} is already in use with type {topic.data_type.__name__}, "
                                     f"not {message_type.__name__}")
            return topic

    def publisher(self, topic: str, message_type: type, sensor_data: bool = False) -> Callable[[Any], None]:
        writer = DataWriter(self.participant, self._topic(dds_topic_name(topic), message_type),
                            qos=SENSOR_DATA_QOS if sensor_data else ROS_DEFAULT_QOS)
        self._entities.append(writer)
        self._writers[topic] = writer

        def publish(message: Any) -> None:  # a write may deliver to a local reader on this thread
            with _GarbageCollectionPaused():
                writer.write(message)

        return publish

    def subscriber_count(self, topic: str) -> int:
        """Readers matched by our writer on ``topic`` (0 when we do not publish it)."""
        writer = self._writers.get(topic)
        return 0 if writer is None else len(writer.get_matched_subscriptions())

    def subscribe(self, topic: str, message_type: type, callback=None, sensor_data: bool = False) -> Subscription:
        subscription = Subscription(topic, callback)
        reader = DataReader(self.participant, self._topic(dds_topic_name(topic), message_type),
                            qos=SENSOR_DATA_QOS if sensor_data else ROS_DEFAULT_QOS,
                            listener=_Delivering(subscription.deliver))
        self._entities.append(reader)
        return subscription

    # -- services (rmw_cyclonedds layout) ----------------------------------------------------------

    def _service_endpoints(self, service: str, service_type):
        request = self._topic(dds_topic_name(service, "rq") + "Request", service_type.request)
        reply = self._topic(dds_topic_name(service, "rr") + "Reply", service_type.response)
        return request, reply

    def call(self, service: str, service_type, timeout_s: float = 2.0, **fields) -> Any:
        writer, reader, waiting = self._client(service, service_type)
        sequence = next(self._sequence)
        done, answer = threading.Event(), []
        waiting[sequence] = (done, answer)
        try:
            # Like rmw's wait_for_service: send only once a server is matched both ways.
            if not _wait_matched(writer, reader, timeout_s):
                raise TransportError(f"service {service} ({service_type.name}) is not available: no server "
                                     f"matched within {timeout_s:.1f}s")
            with _GarbageCollectionPaused():
                writer.write(service_type.request(client_id=self._client_id, sequence_number=sequence, **fields))
            if not done.wait(timeout_s):
                raise TransportError(f"service {service} ({service_type.name}) did not reply within {timeout_s:.1f}s")
            return answer[0]
        finally:
            waiting.pop(sequence, None)

    def service_available(self, service: str, service_type, timeout_s: float = 0.0) -> bool:
        """A server matched both ways (its request reader and reply writer). The client endpoints
        stay, so a first call with ``timeout_s=0`` starts discovery early."""
        writer, reader, _ = self._client(service, service_type)
        return _wait_matched(writer, reader, timeout_s) or bool(
            writer.get_matched_subscriptions() and reader.get_matched_publications())

    def _client(self, service: str, service_type):
        """One request writer and reply reader per service, kept: discovery takes a while."""
        with self._lock:
            client = self._clients.get(service)
        if client is None:
            request_topic, reply_topic = self._service_endpoints(service, service_type)
            waiting: dict[int, tuple[threading.Event, list]] = {}

            def on_reply(sample) -> None:
                if getattr(sample, "client_id", None) == self._client_id and sample.sequence_number in waiting:
                    done, answer = waiting[sample.sequence_number]
                    answer.append(sample)
                    done.set()

            reader = DataReader(self.participant, reply_topic, qos=ROS_DEFAULT_QOS, listener=_Delivering(on_reply))
            writer = DataWriter(self.participant, request_topic, qos=ROS_DEFAULT_QOS)
            client = self._clients[service] = (writer, reader, waiting)
        return client

    def serve(self, service: str, service_type, handler: Callable[[Any], None]) -> None:
        request_topic, reply_topic = self._service_endpoints(service, service_type)
        writer = DataWriter(self.participant, reply_topic, qos=ROS_DEFAULT_QOS)
        pending: list = []
        wake = threading.Event()

        # Writing from inside a listener callback can deadlock Cyclone: answer on a thread.
        def answer_loop() -> None:
            while not self._closed.is_set():
                if not wake.wait(0.1):
                    continue
                wake.clear()
                while pending:
                    request = pending.pop(0)
                    answer = handler(request) or {}
                    with _GarbageCollectionPaused():
                        writer.write(service_type.response(**{k: getattr(request, k) for k in REQUEST_HEADER},
                                                           **answer))

        def on_request(request) -> None:
            pending.append(request)
            wake.set()

        reader = DataReader(self.participant, request_topic, qos=ROS_DEFAULT_QOS, listener=_Delivering(on_request))
        self._entities += [writer, reader]
        thread = threading.Thread(target=answer_loop, name=f"serve {service}", daemon=True)
        self._answer_threads.append(thread)
        thread.start()

    def close(self) -> None:
        self._closed.set()
        for thread in self._answer_threads:  # a reply being written finishes before its writer goes
            thread.join(timeout=1.0)
        # Detach every listener before the readers go (dds_set_listener waits for a callback in
        # progress). Otherwise a callback can hold the last reference to its reader -- Cyclone's
        # entity registry is weak -- and delete it from inside its own callback: a deadlock, seen
        # when a writer in this same process delivers to the reader on its own thread.
        endpoints = self._entities + [entity for client in self._clients.values() for entity in client[:2]]
        with _GarbageCollectionPaused():
            for entity in endpoints:
                if isinstance(entity, DataReader):
                    entity.set_listener(None)
            # Then delete every entity here, on the closing thread, children before the participant.
            # Left to the garbage collector they would go on whichever thread it happens to run --
            # possibly another transport's listener thread, where deleting an entity while that
            # transport detaches its listeners deadlocks (seen: a doctor closing beside an
            # in-process sim node).
            for entity in [*endpoints, *self._topics.values(), self.participant]:
                _delete(entity)
        self._entities.clear()
        self._clients.clear()
        self._writers.clear()
        self._topics.clear()


def _delete(entity: Entity) -> None:
    """Delete a Cyclone entity now. Its finalizer is what cyclonedds offers for it; called here it
    removes the entity from Cyclone's registry, so the later garbage collection does nothing."""
    Entity.__del__(entity)


def _wait_matched(writer: DataWriter, reader: DataReader, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if writer.get_matched_subscriptions() and reader.get_matched_publications():
            return True
        time.sleep(0.01)
    return False
