"""Managed policy on each platform reads into the same locks and defaults."""

from __future__ import annotations

from pathlib import Path


def test_macos_managed_preferences_lock_like_the_toml_policy(tmp_path: Path) -> None:
    import plistlib

    from app.config import macos_policy

    plist = tmp_path / "com.lodgestory.phone.plist"
    plist.write_bytes(
        plistlib.dumps(
            {
                "crm": {"url": "https://crm.example.com"},
                "locked": {"recording_allowed": False, "srtp": "mandatory"},
                "defaults": {"start_at_login": True},
            }
        )
    )
    policy = macos_policy(plist)
    assert policy.locked == {
        "crm_url": "https://crm.example.com",
        "recording_allowed": False,
        "srtp": "mandatory",
    }
    assert policy.defaults == {"start_at_login": True}
    plist.write_bytes(b"not a plist")
    broken = macos_policy(plist)
    assert broken.locked == {} and "not a valid plist" in broken.problems[0]
