"""What the tap and the target share: how their settings are checked and explained."""
