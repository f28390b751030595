// Startup floor: a Node process that does nothing (for information).
