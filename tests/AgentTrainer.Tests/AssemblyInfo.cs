// libtorch's RNG and thread count are process-wide: training tests run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
