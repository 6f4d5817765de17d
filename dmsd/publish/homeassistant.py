"""Home Assistant MQTT discovery: one retained device message that makes the driver's sensors appear by themselves.

The message follows Home Assistant's device-based discovery (`<prefix>/device/<id>/config` with `dev`, `o` and
`cmps`). Every entity reads the retained state (or the stats) through a value template, and all share the
availability topic, so a stopped daemon shows as unavailable. An empty retained payload on the same topic removes
the device and its entities.
"""

from __future__ import annotations

import re

from dmsd import __version__
from dmsd.driver.events import Attention, Drowsiness
from dmsd.labels import EMOTION_LABELS, PHONE_LABELS


def node_id(device: str) -> str:
    """Discovery topics allow only [a-zA-Z0-9_-] in the node id."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", device)


def discovery_topic(prefix: str, device: str) -> str:
    return f"{prefix}/device/{node_id(device)}/config"


def _tristate(test: str, on: str) -> str:
    """ON / OFF from `test`, and None (unknown in Home Assistant) while it is null."""
    return f"{{% if {test} is none %}}None{{% elif {on} %}}ON{{% else %}}OFF{{% endif %}}"


def _or_none(block: str, field: str) -> str:
    return f"{{{{ value_json.{block}.{field} if value_json.{block} else 'None' }}}}"


def discovery_payload(device: str, topics: dict[str, str], support_url: str | None = None, phone: bool = False) -> dict:
    """The device discovery message; `topics` are the daemon's own (state, stats, availability); phone: with the
    phone entity (only when phone use is looked for, or it would stand unknown for good)."""
    node = node_id(device)

    def component(key: str, name: str, platform: str, template: str, **extra: object) -> tuple[str, dict]:
        return f"{node}_{key}", {
            "p": platform,
            "name": name,
            "unique_id": f"dmsd_{node}_{key}",
            "value_template": template,
            **extra,
        }

    components = dict(
        [
            component(
                "driver_present",
                "Driver present",
                "binary_sensor",
                _tristate("value_json.driver_present", "value_json.driver_present"),
                device_class="occupancy",
            ),
            component(
                "seatbelt",
                "Seatbelt unfastened",
                "binary_sensor",
                _tristate("value_json.seatbelt", "not value_json.seatbelt.worn"),
                device_class="safety",
            ),
            component(
                "emotion",
                "Emotion",
                "sensor",
                _or_none("emotion", "label"),
                device_class="enum",
                options=list(EMOTION_LABELS),
            ),
            component(
                "drowsiness",
                "Drowsiness",
                "sensor",
                _or_none("drowsiness", "state"),
                device_class="enum",
                options=[str(level) for level in Drowsiness],
            ),
            component(
                "attention",
                "Attention",
                "sensor",
                _or_none("attention", "state"),
                device_class="enum",
                options=[str(state) for state in Attention],
            ),
            component(
                "eyes_closed",
                "Eyes closed",
                "sensor",
                _or_none("eyes", "closed_s"),
                device_class="duration",
                unit_of_measurement="s",
                state_class="measurement",
                suggested_display_precision=1,
            ),
            *(
                [
                    component(
                        "phone",
                        "Phone",
                        "sensor",
                        _or_none("phone", "use"),
                        device_class="enum",
                        options=list(PHONE_LABELS),
                    )
                ]
                if phone
                else []
            ),
            component(
                "camera",
                "Camera problem",
                "binary_sensor",
                "{{ 'OFF' if value_json.camera == 'ok' else 'ON' }}",
                device_class="problem",
                entity_category="diagnostic",
            ),
            component(
                "fps",
                "Frames per second",
                "sensor",
                "{{ value_json.fps }}",
                state_topic=topics["stats"],
                unit_of_measurement="fps",
                state_class="measurement",
                entity_category="diagnostic",
            ),
        ]
    )
    return {
        "dev": {
            "ids": [f"dmsd_{node}"],
            "name": f"dmsd {device}",
            "mf": "dmsd",
            "mdl": "Driver monitoring system",
            "sw": __version__,
        },
        "o": {"name": "dmsd", "sw": __version__, **({"url": support_url} if support_url else {})},
        "cmps": components,
        "state_topic": topics["state"],
        "availability_topic": topics["availability"],
        "payload_available": "online",
        "payload_not_available": "offline",
        "qos": 1,
    }
