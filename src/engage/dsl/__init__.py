"""The rules language: grammar, parser, syntax tree, checker and code generator."""
