// Translation unit that owns the precompiled torch header shared by all sernn targets.
