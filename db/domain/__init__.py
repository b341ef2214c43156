"""Domain layer: task states and transitions, the write path's ops, prices, the client clock, the stuck rule."""
