"""The Hushroom client: trio session, audio pipeline and the ``hushroom`` command line."""
