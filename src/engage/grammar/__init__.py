"""The grammar file of the rules language (``engage.lark``), shipped as package data."""
