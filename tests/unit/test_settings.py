from __future__ import annotations

import pytest

from otel_autoguard import load_settings

ACTIVATION = [
    ({}, False, "no OpenTelemetry configuration"),
    ({"OTEL_SERVICE_NAME": "shop"}, True, "OTEL_SERVICE_NAME is set"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c"}, True, "TRACES_ENDPOINT is set"),
    ({"OTEL_TRACES_EXPORTER": "console"}, True, "OTEL_TRACES_EXPORTER is set"),
    ({"OTEL_CONFIG_FILE": "/etc/otel.yaml"}, True, "OTEL_CONFIG_FILE is set"),
    ({"OTEL_SERVICE_NAME": " "}, False, "no OpenTelemetry configuration"),
    ({"OTEL_METRICS_EXPORTER": "console"}, False, "no OpenTelemetry configuration"),
    ({"OTEL_AUTOGUARD_ENABLED": "true"}, True, "OTEL_AUTOGUARD_ENABLED=true"),
    ({"OTEL_AUTOGUARD_ENABLED": "ON"}, True, "OTEL_AUTOGUARD_ENABLED=true"),
    ({"OTEL_AUTOGUARD_ENABLED": "false", "OTEL_SERVICE_NAME": "x"}, False, "ENABLED=false"),
    ({"OTEL_AUTOGUARD_ENABLED": "0", "OTEL_SERVICE_NAME": "x"}, False, "ENABLED=false"),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_AUTOGUARD_ENABLED": "true"}, False, "SDK_DISABLED"),
    ({"OTEL_SDK_DISABLED": "TRUE ", "OTEL_SERVICE_NAME": "x"}, False, "OTEL_SDK_DISABLED"),
    ({"OTEL_SDK_DISABLED": "false", "OTEL_SERVICE_NAME": "x"}, True, "OTEL_SERVICE_NAME"),
    ({"OTEL_AUTOGUARD_ENABLED": "maybe", "OTEL_SERVICE_NAME": "x"}, True, "OTEL_SERVICE_NAME"),
    ({"OTEL_AUTOGUARD_ENABLED": "maybe"}, False, "no OpenTelemetry configuration"),
]


@pytest.mark.parametrize(("environ", "active", "reason"), ACTIVATION)
def test_activation(environ: dict[str, str], active: bool, reason: str) -> None:
    settings = load_settings(environ)
    assert settings.active is active
    assert reason in settings.activation_reason


def test_defaults() -> None:
    s = load_settings({})
    assert (s.debug, s.strict, s.role, s.stop_timeout, s.problems) == (
        False,
        False,
        "auto",
        20.0,
        (),
    )
    assert (s.endpoint, s.endpoint_source) == ("http://localhost:4318", "the default")
    assert not s.protocol_set and s.traces_sampler is None


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        (
            {"OTEL_AUTOGUARD_ENABLED": "maybe"},
            "OTEL_AUTOGUARD_ENABLED='maybe' is not valid; accepted: true/false (also 1/0, yes/no, "
            "on/off); deciding as if unset",
        ),
        (
            {"OTEL_AUTOGUARD_DEBUG": "loud"},
            "OTEL_AUTOGUARD_DEBUG='loud' is not valid; accepted: true/false (also 1/0, yes/no, "
            "on/off); using false",
        ),
        (
            {"OTEL_AUTOGUARD_ROLE": "worker"},
            "OTEL_AUTOGUARD_ROLE='worker' is not valid; accepted: auto, serve, skip; using auto",
        ),
        (
            {"OTEL_AUTOGUARD_STOP_TIMEOUT": "-1"},
            "OTEL_AUTOGUARD_STOP_TIMEOUT='-1' is not valid; accepted: a number of seconds > 0; "
            "using 20",
        ),
        (
            {"OTEL_AUTOGUARD_INSTRUMENT": "eager"},
            "OTEL_AUTOGUARD_INSTRUMENT='eager' is not valid; accepted: on-import, at-start; "
            "using on-import",
        ),
        (
            {"OTEL_AUTOGUARD_STOP_TIMEOUT": "inf"},
            "OTEL_AUTOGUARD_STOP_TIMEOUT='inf' is not valid; accepted: a number of seconds > 0; "
            "using 20",
        ),
    ],
)
def test_malformed_values_name_the_variable(environ: dict[str, str], problem: str) -> None:
    assert load_settings(environ).problems == (problem,)


@pytest.mark.parametrize(
    ("environ", "field", "value"),
    [
        ({"OTEL_AUTOGUARD_DEBUG": "yes"}, "debug", True),
        ({"OTEL_AUTOGUARD_STRICT": "1"}, "strict", True),
        ({"OTEL_AUTOGUARD_ROLE": " Serve "}, "role", "serve"),
        ({"OTEL_AUTOGUARD_STOP_TIMEOUT": "2.5"}, "stop_timeout", 2.5),
        ({"OTEL_TRACES_SAMPLER": " always_off "}, "traces_sampler", "always_off"),
        ({"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"}, "protocol_set", True),
        ({"OTEL_PYTHON_CONFIGURATOR": "vendor"}, "configurator", "vendor"),
        ({}, "instrument_at_start", False),
        ({"OTEL_AUTOGUARD_INSTRUMENT": " At-Start "}, "instrument_at_start", True),
        ({"OTEL_AUTOGUARD_INSTRUMENT": "on-import"}, "instrument_at_start", False),
        (
            {"OTEL_RESOURCE_ATTRIBUTES": "a=b, service.instance.id=x"},
            "has_resource_instance_id",
            True,
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces",
            },
            "endpoint_source",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
    ],
)
def test_parsed_values(environ: dict[str, str], field: str, value: object) -> None:
    assert getattr(load_settings(environ), field) == value


def test_secrets_are_redacted() -> None:
    settings = load_settings(
        {
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr3t-value,x-team=blue",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "authorization=Bearer%20tok123",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-team=blue,Authorization: Bearer LOGSECRET9",
        }
    )
    text = settings.redact(
        "sent api-key=s3cr3t-value,x-team=blue and tok=Bearer%20tok123 to "
        "https://user:pa55@collector:4318/v1/traces and s3cr3t-value; Header format invalid: "
        "Authorization: Bearer LOGSECRET9; posted to http://c:4318/v1/logs?api_key=QUERY55#top"
    )
    for secret in ("s3cr3t-value", "Bearer%20tok123", "pa55", "user:", "LOGSECRET9", "QUERY55"):
        assert secret not in text
    assert "https://[REDACTED]@collector:4318/v1/traces" in text
    assert "http://c:4318/v1/logs?[REDACTED]#top" in text
