"""The keys darknet reads in each section of a ``.cfg``: any other key is one darknet skips, and
says so at load time (``Unused field``) for every section but ``[net]``.

Where the table comes from: darknet's own parser, ``src/parser.c``, in both of its forks,
pjreddie/darknet (commit f6afaab) and AlexeyAB/darknet (commit 59596d7), the two whose cfgs are in
tests/corpus/darknet. A section's keys are every key the ``parse_<section>`` function its name
leads to asks for with one of the ``option_find`` family (``_int``, ``_float``, ``_str``, quiet or
not), together with the keys ``parse_network_cfg`` asks of every layer (``EVERY_LAYER``); ``[net]``'s
are those of ``parse_net_options`` and ``show_receptive_field``. A key either fork reads is in (the
union), whether or not a condition guards the read (``B1`` only with ``adam=1``), since cnninspect
reads the cfgs of both. No other file of either darknet reads a cfg section. Only the sections
cnninspect reads are here (its short names such as ``[conv]`` are read as the long ones)."""

from __future__ import annotations

EVERY_LAYER = frozenset({
    "burnin_update", "clip", "dont_update", "dontload", "dontloadscales", "dontsave", "learning_rate", "numload",
    "onlyforward", "smooth", "stopbackward", "train_only_bn", "truth",
})  # fmt: skip
"""What darknet asks of every layer after its own parser (training switches, weight loading): both
forks' lists together, for AlexeyAB's own sections too (``[sam]``, …), though only pjreddie's asks
``truth``, ``smooth``, ``numload`` and ``dontsave``."""

_YOLO = frozenset({
    "anchors", "beta_nms", "classes", "cls_normalizer", "counters_per_class", "delta_normalizer", "ignore_thresh",
    "iou_loss", "iou_normalizer", "iou_thresh", "iou_thresh_kind", "jitter", "label_smooth_eps", "map", "mask", "max",
    "max_delta", "nms_kind", "num", "obj_normalizer", "objectness_smooth", "random", "resize", "scale_x_y",
    "truth_thresh",
})  # fmt: skip
"""What ``[yolo]`` and ``[Gaussian_yolo]`` both read."""

KEYS: dict[str, frozenset[str]] = {
    "net": frozenset({
        "adam", "adversarial_lr", "angle", "aspect", "attention", "augment_speed", "B1", "B2",
        "badlabels_rejection_percentage", "batch", "blur", "burn_in", "center", "channels", "clip", "contrastive",
        "contrastive_color", "contrastive_jit_flip", "cutmix", "decay", "dynamic_minibatch", "ema_alpha", "eps",
        "equidistant_point", "exposure", "flip", "gamma", "gaussian_noise", "height", "hue", "inputs",
        "label_smooth_eps", "learning_rate", "learning_rate_min", "letter_box", "loss_scale", "max_batches",
        "max_chart_loss", "max_crop", "max_ratio", "min_crop", "min_ratio", "mixup", "momentum", "mosaic",
        "mosaic_bound", "notruth", "num_sigmas_reject_badlabels", "optimized_memory", "policy", "power", "random",
        "resize_step", "saturation", "scale", "scales", "seq_scales", "sequential_subdivisions", "sgdr_cycle",
        "sgdr_mult", "show_receptive_field", "step", "steps", "subdivisions", "time_steps", "track", "try_fix_nan",
        "unsupervised", "use_cuda_graph", "weights_reject_freq", "width", "workspace_size_limit_MB",
    }),
    "convolutional": EVERY_LAYER | {
        "activation", "angle", "antialiasing", "assisted_excitation", "batch_normalize", "bin_output", "binary", "cbn",
        "coordconv", "dilation", "dot", "filters", "flipped", "grad_centr", "groups", "pad", "padding", "reverse",
        "rotate", "share_index", "size", "stream", "stretch", "stretch_sway", "stride", "stride_x", "stride_y", "sway",
        "wait_stream", "xnor",
    },
    "local": EVERY_LAYER | {"activation", "filters", "pad", "size", "stride"},
    "maxpool": EVERY_LAYER | {
        "antialiasing", "maxpool_depth", "maxpool_zero_nonmax", "out_channels", "padding", "size", "stride", "stride_x",
        "stride_y",
    },
    "avgpool": EVERY_LAYER,
    "local_avgpool": EVERY_LAYER | {"padding", "size", "stride", "stride_x", "stride_y"},
    "upsample": EVERY_LAYER | {"scale", "stride"},
    "route": EVERY_LAYER | {"group_id", "groups", "layers", "stream", "wait_stream"},
    "shortcut": EVERY_LAYER | {"activation", "alpha", "beta", "from", "weights_normalization", "weights_type"},
    "yolo": EVERY_LAYER | _YOLO | {
        "dets_for_show", "dets_for_track", "embedding_layer", "focal_loss", "new_coords", "show_details", "sim_thresh",
        "track_ciou_norm", "track_history_size",
    },
    "Gaussian_yolo": EVERY_LAYER | _YOLO | {"uc_normalizer", "yolo_point"},
    "region": EVERY_LAYER | {
        "absolute", "anchors", "background", "bias_match", "class_scale", "classes", "classfix", "coord_scale",
        "coords", "focal_loss", "jitter", "log", "map", "mask_scale", "max", "noobject_scale", "num", "object_scale",
        "random", "rescore", "resize", "softmax", "sqrt", "thresh", "tree",
    },
    "detection": EVERY_LAYER | {
        "class_scale", "classes", "coord_scale", "coords", "forced", "jitter", "max", "noobject_scale", "num",
        "object_scale", "random", "reorg", "rescore", "resize", "side", "softmax", "sqrt",
    },
    "dropout": EVERY_LAYER | {"dropblock", "dropblock_size_abs", "dropblock_size_rel", "probability"},
    "connected": EVERY_LAYER | {"activation", "batch_normalize", "output"},
    "softmax": EVERY_LAYER | {"groups", "noloss", "spatial", "temperature", "tree"},
    "cost": EVERY_LAYER | {"noobj", "ratio", "scale", "thresh", "type"},
    "contrastive": EVERY_LAYER | {
        "classes", "cls_normalizer", "contrastive_neg_max", "max_delta", "temperature", "yolo_layer",
    },
    "batchnorm": EVERY_LAYER,
    "crop": EVERY_LAYER | {"angle", "crop_height", "crop_width", "exposure", "flip", "noadjust", "saturation", "shift"},
    "reorg": EVERY_LAYER | {"extra", "flatten", "reverse", "stride"},  # pjreddie's reads all four, AlexeyAB's two
    "reorg3d": EVERY_LAYER | {"reverse", "stride"},
    "scale_channels": EVERY_LAYER | {"activation", "from", "scale_wh"},
    "sam": EVERY_LAYER | {"activation", "from"},
}  # fmt: skip
"""Each section's keys, by the name cnninspect reads it under (``[conv]`` is ``convolutional``)."""
