"""The transport on the robot PC: rclpy (ROS 2 Humble) with the Interbotix message packages.

UNTESTED HERE: rclpy is not on PyPI and cannot be installed in CI; this module only imports
where ROS 2 is sourced. It maps our message structs to the ROS types of the same name
(``messages.ros_type_name``) field by field, spins one node on a background executor thread,
and speaks services natively (so it works with Humble's default Fast DDS).
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import fields, is_dataclass
from typing import Any, Callable

import rclpy  # ImportError here is how open_transport("auto") falls back to Cyclone DDS
from rclpy.executors import MultiThreadedExecutor
from rclpy.qos import qos_profile_sensor_data

from robot.aloha.messages import REQUEST_HEADER, ros_type_name
from robot.aloha.transport import Subscription, Transport, TransportError


def _ros_class(type_name: str):
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def _to_ros(struct) -> Any:
    message = _ros_class(ros_type_name(type(struct)))()
    for f in fields(struct):
        value = getattr(struct, f.name)
        setattr(message, f.name, _to_ros(value) if is_dataclass(value) else value)
    return message


def _from_ros(message, struct_type: type):
    values = {}
    for f in fields(struct_type):
        value = getattr(message, f.name)
        values[f.name] = _from_ros(value, f.type) if is_dataclass(f.type) else value
    return struct_type(**values)


class RclpyTransport(Transport):
    name = "rclpy"

    def __init__(self, domain_id: int = 0, node_name: str = "wmpo"):
        self._context = rclpy.Context()
        rclpy.init(context=self._context, domain_id=domain_id)
        self.node = rclpy.create_node(node_name, context=self._context)
        self._executor = MultiThreadedExecutor(context=self._context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    def publisher(self, topic: str, message_type: type, sensor_data: bool = False) -> Callable[[Any], None]:
        publisher = self.node.create_publisher(_ros_class(ros_type_name(message_type)), topic,
                                               qos_profile_sensor_data if sensor_data else 10)
        return lambda struct: publisher.publish(_to_ros(struct))

    def subscribe(self, topic: str, message_type: type, callback=None, sensor_data: bool = False) -> Subscription:
        subscription = Subscription(topic, callback)
        self.node.create_subscription(_ros_class(ros_type_name(message_type)), topic,
                                      lambda m: subscription.deliver(_from_ros(m, message_type)),
                                      qos_profile_sensor_data if sensor_data else 10)
        return subscription

    def subscriber_count(self, topic: str) -> int:
        return self.node.count_subscribers(topic)

    def call(self, service: str, service_type, timeout_s: float = 2.0, **fields_) -> Any:
        client = self.node.create_client(_ros_class(service_type.name), service)
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise TransportError(f"service {service} ({service_type.name}) is not available within {timeout_s}s")
            request = client.srv_type.Request(**fields_)
            future = client.call_async(request)
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            if not done.wait(timeout_s):
                raise TransportError(f"service {service} ({service_type.name}) did not reply within {timeout_s}s")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def service_available(self, service: str, service_type, timeout_s: float = 0.0) -> bool:
        client = self.node.create_client(_ros_class(service_type.name), service)
        try:
            return client.wait_for_service(timeout_sec=timeout_s)
        finally:
            self.node.destroy_client(client)

    def serve(self, service: str, service_type, handler) -> None:
        names = [f.name for f in fields(service_type.request) if f.name not in REQUEST_HEADER]

        def answer(request, response):
            fields_ = handler(service_type.request(**{name: getattr(request, name) for name in names})) or {}
            for name, value in fields_.items():
                setattr(response, name, value)
            return response

        self.node.create_service(_ros_class(service_type.name), service, answer)

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self._context)
