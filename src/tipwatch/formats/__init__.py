"""Readers and writers of the formats tipwatch takes in and gives out."""
