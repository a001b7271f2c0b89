"""darknet's rules one at a time, each on a small cfg with the numbers worked out by hand from
darknet's C source: dilation, share_index, [shortcut] across channels, duplicate keys, atoi,
[cost], [crop], [scale_channels], [sam], [reorg3d], [route] groups, the YOLOv1 and Gaussian heads,
[connected] with batch_normalize, [batchnorm], and a mask past num."""

from __future__ import annotations

import json

from conftest import cli, load

from cnninspect.engines.analytic import infer_shapes
from cnninspect.engines.torch import trace_spec
from cnninspect.rules import find_problems

NET = "[net]\nwidth=32\nheight=32\nchannels=3\n\n"
CONV8 = "[convolutional]\nfilters=8\nsize=3\npad=1\nactivation=leaky\n\n"  # 3×3×3×8 + 8 = 224, keeps 32×32


def outputs(trace) -> list[tuple[int, ...]]:
    """Each darknet layer's output shape, batch first."""
    shape_of = {record.layer.name: record.output_shape for record in trace.records}
    last = {group.name: group.output for group in trace.spec.groups}
    count = 1 + max(int(record.layer.name.split(".")[0]) for record in trace.records)
    return [shape_of[last.get(str(i), str(i))] for i in range(count)]


def traced(tmp_path, body: str, name: str = "t.cfg"):
    """The cfg traced by both engines, which must agree; the analytic trace."""
    path = tmp_path / name
    path.write_text(NET + body)
    spec = load(path)
    analytic, torch = infer_shapes(spec), trace_spec(spec)
    assert outputs(analytic) == outputs(torch) and analytic.total_params == torch.total_params
    return analytic


def test_a_dilated_3x3_with_pad_1_keeps_its_size(tmp_path):
    # AlexeyAB pads pad·dilation = 1·2: (32 + 2·2 − 2·(3 − 1) − 1)/1 + 1 = 32
    trace = traced(tmp_path, "[convolutional]\nfilters=8\nsize=3\npad=1\ndilation=2\nactivation=leaky\n")
    assert outputs(trace) == [(1, 8, 32, 32)]
    assert trace.total_params == 3 * 3 * 3 * 8 + 8
    assert find_problems(trace) == []


def test_a_1x1_conv_ignores_dilation_as_darknet_does(tmp_path):
    trace = traced(tmp_path, "[convolutional]\nfilters=8\nsize=1\nstride=2\ndilation=2\nactivation=leaky\n")
    assert outputs(trace) == [(1, 8, 16, 16)]  # (32 − 1)/2 + 1 = 16


def test_share_index_counts_the_shared_weights_once(tmp_path):
    # layer 1 and layer 2 are the same 3×3 8→8 conv with BatchNorm: 8·8·9 + 2·8 = 592, counted at 1
    shared = "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\npad=1\nactivation=leaky\n"
    trace = traced(tmp_path, CONV8 + shared + "\n" + shared + "share_index=1\n")
    assert trace.total_params == 224 + 8 * 8 * 9 + 2 * 8
    trace = traced(tmp_path, CONV8 + shared + "\n" + shared + "share_index=-1\n")  # relative: 2 − 1 = 1
    assert trace.total_params == 224 + 592


def test_share_index_of_another_shape_is_refused(tmp_path):
    path = tmp_path / "t.cfg"
    path.write_text(NET + CONV8 + "[convolutional]\nfilters=16\nsize=3\npad=1\nshare_index=0\n")
    result = cli("summary", str(path))
    assert result.exit_code == 2 and "share_index=0 names layer 0, whose filters= differs" in result.stderr


def test_a_duplicate_key_keeps_the_first_value_with_a_warning(tmp_path):
    path = tmp_path / "t.cfg"
    path.write_text(NET + "[convolutional]\nfilters=8\nsize=3\nfilters=16\npad=1\n")
    trace = infer_shapes(load(path))
    assert outputs(trace) == [(1, 8, 32, 32)]  # option_find returns the first filters=
    result = cli("lint", str(path), "--format", "json")
    (finding,) = json.loads(result.stdout)["findings"]
    assert result.exit_code == 0 and finding["code"] == "CNN304" and (finding["line"], finding["col"]) == (9, 1)
    assert "darknet reads the first, filters=8 at line 7, and ignores filters=16" in finding["message"]


def test_a_number_is_read_as_atoi_reads_it(tmp_path):
    # "layers = 0 ###P6": atoi stops at the first character that is not a digit
    trace = traced(tmp_path, CONV8 + "[convolutional]\nfilters=4\nsize=1\n\n[route]\nlayers = 0 ###P6\n")
    assert outputs(trace)[2] == (1, 8, 32, 32)
    trace = traced(tmp_path, "[convolutional]\nfilters=8 # eight\nsize=3\n")
    assert outputs(trace) == [(1, 8, 30, 30)]


def test_cost_and_contrastive_pass_the_tensor_on(tmp_path):
    trace = traced(tmp_path, CONV8 + "[avgpool]\n\n[softmax]\n\n[cost]\ntype=sse\n")
    assert outputs(trace)[1:] == [(1, 8, 1, 1)] * 3 and trace.total_params == 224


def test_crop_takes_the_centre(tmp_path):
    # 32×32 cropped to 24 high and 28 wide: rows 4..27, columns 2..29; then a 3×3 conv with pad=1
    trace = traced(tmp_path, "[crop]\ncrop_height=24\ncrop_width=28\nflip=1\n\n" + CONV8)
    assert outputs(trace) == [(1, 3, 24, 28), (1, 8, 24, 28)]
    assert trace.spec.layers[0].args["padding"] == (-2, -2, -4, -4)
    assert find_problems(trace) == []  # cropping is not padding: no floor-truncation warning


def test_scale_channels_scales_the_from_layer(tmp_path):
    # squeeze-and-excitation: 32×32×8 → avgpool 1×1×8 → 1×1 conv to 8 (8·8 + 8) → scale layer 0
    body = CONV8 + "[avgpool]\n\n[convolutional]\nfilters=8\nsize=1\nactivation=logistic\n\n[scale_channels]\nfrom=0\n"
    trace = traced(tmp_path, body)
    assert outputs(trace)[3] == (1, 8, 32, 32) and trace.total_params == 224 + 8 * 8 + 8


def test_sam_multiplies_two_equal_layers(tmp_path):
    body = CONV8 + "[convolutional]\nfilters=8\nsize=1\nactivation=logistic\n\n[sam]\nfrom=-2\n"
    trace = traced(tmp_path, body)
    assert outputs(trace)[2] == (1, 8, 32, 32) and find_problems(trace) == []


def test_reorg3d_and_reorg_move_each_2x2_patch_into_channels(tmp_path):
    trace = traced(tmp_path, CONV8 + "[reorg3d]\nstride=2\n\n[reorg]\nstride=2\n")
    assert outputs(trace)[1:] == [(1, 8 * 4, 16, 16), (1, 8 * 16, 8, 8)]


def test_reorg_is_traced_by_the_analytic_engine(tmp_path):
    path = tmp_path / "t.cfg"
    path.write_text(NET + CONV8 + "[reorg]\nstride=2\n")
    assert infer_shapes(load(path)).engine == "analytic"
    result = cli("lint", str(path), "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["findings"] == []


def test_route_groups_takes_one_piece_of_the_channels(tmp_path):
    # YOLOv4-tiny: the second half of layer 0's 8 channels, then a concat of 4 + 8
    body = CONV8 + "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n\n[route]\nlayers=-1,0\n"
    trace = traced(tmp_path, body)
    assert outputs(trace)[1:] == [(1, 4, 32, 32), (1, 12, 32, 32)]


def test_route_groups_that_do_not_divide_the_channels_is_a_split_finding(tmp_path):
    path = tmp_path / "t.cfg"
    path.write_text(NET + CONV8 + "[route]\nlayers=-1\ngroups=3\ngroup_id=0\n")
    codes = [f["code"] for f in json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]]
    assert codes == ["CNN211"]  # 8 channels in 3 groups


def test_yolov1_detection_needs_side_squared_times_boxes_and_classes(tmp_path):
    # side=2, num=2, coords=4, classes=3: 2² × ((1 + 4) × 2 + 3) = 52 values from the [connected]
    head = "[detection]\nside=2\nnum=2\ncoords=4\nclasses=3\n"
    trace = traced(tmp_path, CONV8 + "[connected]\noutput=52\nactivation=linear\n\n" + head)
    assert trace.total_params == 224 + 8 * 32 * 32 * 52 + 52 and find_problems(trace) == []
    path = tmp_path / "bad.cfg"
    path.write_text(NET + CONV8 + "[connected]\noutput=50\nactivation=linear\n\n" + head)
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert finding["code"] == "CNN210" and "set output=52" in finding["message"]


def test_gaussian_yolo_needs_classes_plus_9_per_anchor(tmp_path):
    # a mean and a variance for each of x, y, w, h, objectness and the classes: (2 + 9) × 3 = 33
    head = "[Gaussian_yolo]\nmask=0,1,2\nanchors=10,14, 23,27, 37,58\nclasses=2\nnum=3\n"
    conv = "[convolutional]\nfilters={}\nsize=1\nactivation=linear\n\n"
    assert find_problems(traced(tmp_path, CONV8 + conv.format(33) + head)) == []
    path = tmp_path / "bad.cfg"
    path.write_text(NET + CONV8 + conv.format(21) + head)
    (finding,) = json.loads(cli("lint", str(path), "--format", "json").stdout)["findings"]
    assert finding["code"] == "CNN210" and "(classes + 9) × len(mask) = (2 + 9) × 3 = 33" in finding["message"]


def test_connected_with_batch_normalize_has_scale_and_shift_for_a_bias(tmp_path):
    trace = traced(tmp_path, CONV8 + "[connected]\noutput=10\nbatch_normalize=1\nactivation=leaky\n")
    assert trace.total_params == 224 + 8 * 32 * 32 * 10 + 2 * 10


def test_a_batchnorm_layer_has_a_scale_and_a_shift_per_channel(tmp_path):
    assert traced(tmp_path, CONV8 + "[batchnorm]\n").total_params == 224 + 2 * 8


def test_a_mask_past_num_is_a_warning_that_names_the_anchors_given(tmp_path):
    # num=3 but anchors= lists 4 pairs and mask names anchor 3: darknet reads past its 3 anchors
    body = "[convolutional]\nfilters=255\nsize=1\nactivation=linear\n\n"
    body += "[yolo]\nmask=1,2,3\nanchors=10,14, 23,27, 37,58, 81,82\nnum=3\n"
    path = tmp_path / "t.cfg"
    path.write_text(NET + body)
    result = cli("lint", str(path), "--format", "json")
    (finding,) = json.loads(result.stdout)["findings"]
    assert result.exit_code == 0 and finding["code"] == "CNN304" and finding["line"] == 12
    assert "anchor 3 does not exist; num=3 anchors are numbered 0 to 2" in finding["message"]
    assert "set num=4" in finding["message"]


def test_export_refuses_what_it_cannot_write_yet(tmp_path):
    path = tmp_path / "t.cfg"
    path.write_text(NET + CONV8 + "[convolutional]\nfilters=16\nsize=3\npad=1\n\n[shortcut]\nfrom=0\n")
    result = cli("export", str(path))
    assert result.exit_code == 2 and result.stdout == ""  # nothing half-written
    assert "adds layers of unequal shapes as darknet does, which PyTorch's + refuses" in result.stderr
    path.write_text(NET + CONV8 + CONV8 + "[convolutional]\nfilters=8\nsize=3\npad=1\nshare_index=1\n")
    result = cli("export", str(path))
    assert result.exit_code == 2 and "2.conv uses 1.conv's parameters (darknet's share_index=)" in result.stderr
