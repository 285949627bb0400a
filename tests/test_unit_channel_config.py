"""A channel's settings: what people may type, what is stored, what applies.  Pure."""

from __future__ import annotations

import pytest

from bot.channels.config import ChannelConfig, ConfigError, ConfigPolicy, describe, stored_value
from bot.tools.base import ToolSpec
from bot.usage.quotas import QuotaLimits

TOOLS = [ToolSpec(name="orders__lookup_order", description="", parameters={}, source="orders", original="lookup_order"),
         ToolSpec(name="orders__delete_order", description="", parameters={}, source="orders", original="delete_order"),
         ToolSpec(name="current_time", description="", parameters={})]
POLICY = ConfigPolicy("gpt-4o-mini", frozenset({"llama3"}), 100_000, lambda team: TOOLS if team == "T1" else [])


def test_values_are_checked_against_what_the_deployment_allows():
    assert stored_value("model", " llama3 ", POLICY, "T1") == "llama3"
    with pytest.raises(ConfigError, match="not a model I may use here"):
        stored_value("model", "gpt-5", POLICY, "T1")
    assert stored_value("tools", "orders:lookup_order, current_time", POLICY, "T1") == "orders:lookup_order,current_time"
    assert stored_value("tools", "orders:*", POLICY, "T1") == "orders:*"
    assert stored_value("tools", "None", POLICY, "T1") == "none"
    with pytest.raises(ConfigError, match="not among the tools offered here"):
        stored_value("tools", "orders:*", POLICY, "T2")  # a workspace the deployment offers no tools
    assert stored_value("auto_reply", "OFF", POLICY, "T1") == "off"
    assert stored_value("daily_tokens", "50,000", POLICY, "T1") == "50000"
    for bad in ("0", "100001", "lots"):
        with pytest.raises(ConfigError):
            stored_value("daily_tokens", bad, POLICY, "T1")
    with pytest.raises(ConfigError, match="too long"):
        stored_value("persona", "x" * 4001, POLICY, "T1")
    with pytest.raises(ConfigError, match="don't have a setting"):
        stored_value("temperature", "2", POLICY, "T1")


def test_what_is_stored_reads_back_and_odd_values_fall_back_to_defaults():
    config = ChannelConfig.from_replies({b"model": b"llama3", b"tools": b"none", b"auto_reply": b"off",
                                         b"daily_tokens": b"500"}, b"Be brief.")
    assert config == ChannelConfig("llama3", (), "Be brief.", False, 500)
    assert ChannelConfig.from_replies(["tools", "a,b", "daily_tokens", "many"]) == ChannelConfig(tools=("a", "b"))
    assert ChannelConfig.from_replies(None) == ChannelConfig()


def test_the_channels_limit_only_ever_lowers_the_deployments():
    limits = QuotaLimits(channel_daily_tokens=1000)
    assert ChannelConfig(daily_tokens=500).quotas(limits).channel_daily_tokens == 500
    assert ChannelConfig(daily_tokens=5000).quotas(limits).channel_daily_tokens == 1000, "stored before the deployment lowered it"
    assert ChannelConfig(daily_tokens=5000).quotas(QuotaLimits()).channel_daily_tokens == 5000
    assert ChannelConfig().quotas(limits) is limits


def test_a_model_no_longer_allowed_is_not_used_and_show_says_so():
    assert POLICY.model_for(ChannelConfig(model="llama3")) == "llama3"
    assert POLICY.model_for(ChannelConfig(model="retired")) is None
    lines = describe(ChannelConfig(model="retired"), POLICY, QuotaLimits())
    assert lines[0] == "• `model`: `gpt-4o-mini` (default) (`retired` is set but no longer allowed)"
