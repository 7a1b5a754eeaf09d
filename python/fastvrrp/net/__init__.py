"""Host networking off the takeover path: the use_vmac macvlan, static and virtual routes/rules."""
