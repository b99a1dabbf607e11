"""The Tk window (`chatthy tk`): a desktop client on the shared client session layer,
drawn with tkinter (Tk 8.6). Importing this package loads no tkinter and opens no
display, so that the other front ends and the tests of its pure parts run anywhere; the
modules that need a display say so where they import tkinter."""

from __future__ import annotations
