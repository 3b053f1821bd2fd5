"""Disclosure: the public record of critiques, answers and lateness, built only from events."""
