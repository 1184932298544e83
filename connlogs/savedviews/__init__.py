"""Saved views: named searches, personal or shared, the built-in ones, and start views.

* ``models``: ``SavedView`` and ``StartView``;
* ``presets``: the built-in, read-only views;
* ``access``: who may see, change and share a view (asking ``connlogs.roles``);
* ``resolve``: a view id as a ``q`` (the ``view=`` parameter of every door), the start view;
* ``display``: the display choices a view may carry.
"""
