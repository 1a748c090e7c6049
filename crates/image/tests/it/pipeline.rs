//! `walk_pipelined` (and `walk_pipelined_beside`, to both of its sinks) hands each sink exactly
//! what `walk` does (entries in order, content of the entries it asked for, `end_entry` after
//! each, `finish` once at the end), and a sink's error names the entry.

use rharden_image::{Entry, EntryKind, Image, LayerInfo, LayerSink, OpenOptions, SinkError, Want};

use rharden_testkit::*;

/// Records every call; asks for the content of every other file, to check skipped content
/// never reaches the sink.
#[derive(Debug, Default)]
struct Recorder {
    calls: Vec<String>,
    files: usize,
    fail_on: Option<Vec<u8>>,
}

impl LayerSink for Recorder {
    fn entry(&mut self, layer: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        if self.fail_on.as_deref() == Some(entry.path) {
            return Err("planted failure".into());
        }
        // Every field: the names cross to the sink's thread in a buffer of their own.
        self.calls.push(format!(
            "{} entry {} ({}) {:?} {} {:o} {}:{} {} {:?} {:?} {:?}",
            layer.index,
            String::from_utf8_lossy(entry.path),
            String::from_utf8_lossy(entry.raw_path),
            entry.kind,
            entry.size,
            entry.mode,
            entry.uid,
            entry.gid,
            entry.mtime,
            entry.link_target.map(String::from_utf8_lossy),
            entry.device,
            entry.xattrs,
        ));
        if entry.kind == EntryKind::File {
            self.files += 1;
            if self.files % 2 == 1 {
                return Ok(Want::Content);
            }
        }
        Ok(Want::Skip)
    }
    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        match self.calls.last_mut() {
            Some(last) if last.starts_with("content ") => {
                last.push_str(&String::from_utf8_lossy(chunk));
            }
            _ => self
                .calls
                .push(format!("content {}", String::from_utf8_lossy(chunk))),
        }
        Ok(())
    }
    fn end_entry(&mut self) -> Result<(), SinkError> {
        self.calls.push("end".into());
        Ok(())
    }
    fn finish(&mut self) {
        self.calls.push("finish".into());
    }
}

fn spec() -> ImageSpec {
    let big: Vec<u8> = (0..1_000_000u32)
        .flat_map(|i| (i % 251).to_string().into_bytes())
        .collect();
    ImageSpec::new(vec![
        vec![
            dir("etc"),
            file("etc/a", b"alpha"),
            file("etc/b", b"beta"),
            file("etc/empty", b""),
            file("big", &big),
            symlink("etc/l", "a"),
        ],
        vec![
            file("etc/.wh.b", b""),
            file("etc/c", b"gamma"),
            hardlink("etc/h", "etc/a"),
        ],
        many_small_files(),
    ])
}

/// More entries than one hand-over carries, of every size from empty to a few KiB.
fn many_small_files() -> Vec<TarEntry> {
    let mut layer = vec![dir("many")];
    for i in 0..700u32 {
        let body = i.to_string().repeat((i as usize * 7) % 900);
        layer.push(file(&format!("many/{i}"), body.as_bytes()));
    }
    layer
}

#[test]
fn pipelined_walk_feeds_sinks_exactly_as_the_plain_walk() {
    let dir = tempfile::tempdir().expect("tempdir");
    for form in [
        Form::DockerArchive,
        Form::OciTar,
        Form::OciDir,
        Form::DockerArchiveGz,
    ] {
        let path = spec().write(dir.path(), form);
        let image = Image::open(&path, &OpenOptions::default()).expect("open");
        let plain = image.walk(|_| Recorder::default()).expect("walk");
        let piped = image.walk_pipelined(|_| Recorder::default()).expect("walk");
        assert_eq!(plain.sinks.len(), piped.sinks.len());
        for (a, b) in plain.sinks.iter().zip(&piped.sinks) {
            assert_eq!(a.calls, b.calls, "{form:?}");
            let finishes = a.calls.iter().filter(|c| *c == "finish").count();
            assert_eq!(finishes, 1, "{form:?}");
            assert_eq!(a.calls.last().map(String::as_str), Some("finish"));
        }
        assert!(plain.sinks[0]
            .calls
            .iter()
            .any(|c| c.starts_with("content ")));
        // With a second sink on the reading thread, each of the pair gets the same again.
        let beside = image
            .walk_pipelined_beside(|_| (Recorder::default(), Recorder::default()))
            .expect("walk");
        assert_eq!(plain.sinks.len(), beside.sinks.len());
        for (a, (on_reader, on_thread)) in plain.sinks.iter().zip(&beside.sinks) {
            assert_eq!(a.calls, on_reader.calls, "{form:?}, reader's sink");
            assert_eq!(a.calls, on_thread.calls, "{form:?}, thread's sink");
        }
        assert_eq!(plain.layers.len(), piped.layers.len());
        for (a, b) in plain.layers.iter().zip(&piped.layers) {
            assert_eq!(a.diff_id, b.diff_id);
        }
        assert_eq!(
            plain.files.final_view().len(),
            piped.files.final_view().len()
        );
    }
}

/// An error and its sources, as one line.
fn error_chain(err: &rharden_image::ImageError) -> String {
    std::iter::successors(Some(err as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

#[test]
fn a_pipelined_sink_error_names_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = spec().write(dir.path(), Form::OciTar);
    let image = Image::open(&path, &OpenOptions::default()).expect("open");
    let err = image
        .walk_pipelined(|_| Recorder {
            fail_on: Some(b"big".to_vec()),
            ..Recorder::default()
        })
        .expect_err("the sink fails");
    let text = format!("{err:#}");
    let chain = error_chain(&err);
    assert!(chain.contains("big"), "{text} / {chain}");
    assert!(chain.contains("planted failure"), "{chain}");
}

#[test]
fn a_pipelined_sink_error_deep_in_a_layer_of_small_files_names_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = spec().write(dir.path(), Form::OciTar);
    let image = Image::open(&path, &OpenOptions::default()).expect("open");
    let err = image
        .walk_pipelined(|_| Recorder {
            fail_on: Some(b"many/650".to_vec()),
            ..Recorder::default()
        })
        .expect_err("the sink fails");
    let chain = error_chain(&err);
    assert!(chain.contains("many/650"), "{chain}");
    assert!(chain.contains("planted failure"), "{chain}");
}

#[test]
fn an_error_of_the_sink_on_the_reading_thread_names_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = spec().write(dir.path(), Form::OciTar);
    let image = Image::open(&path, &OpenOptions::default()).expect("open");
    let err = image
        .walk_pipelined_beside(|_| {
            let failing = Recorder {
                fail_on: Some(b"many/650".to_vec()),
                ..Recorder::default()
            };
            (failing, Recorder::default())
        })
        .expect_err("the sink fails");
    let chain = error_chain(&err);
    assert!(chain.contains("many/650"), "{chain}");
    assert!(chain.contains("planted failure"), "{chain}");
}

/// Per file: its path, its content in the pieces it came in.
#[derive(Debug, Default)]
struct Pieces(Vec<(Vec<u8>, Vec<Vec<u8>>)>);

impl LayerSink for Pieces {
    fn entry(&mut self, _: &LayerInfo, entry: &Entry<'_>) -> Result<Want, SinkError> {
        if entry.kind != EntryKind::File {
            return Ok(Want::Skip);
        }
        self.0.push((entry.path.to_vec(), Vec::new()));
        Ok(Want::Content)
    }
    fn content(&mut self, chunk: &[u8]) -> Result<(), SinkError> {
        if let Some((_, pieces)) = self.0.last_mut() {
            pieces.push(chunk.to_vec());
        }
        Ok(())
    }
}

/// The reader reads straight into the pipeline's batches; a file of up to 64 KiB that would
/// straddle two batches starts a new one, so both sinks get it in one piece, and every file
/// arrives whole.
#[test]
fn files_up_to_64_kib_reach_both_sinks_in_one_piece() {
    let sizes: Vec<usize> = (0..60)
        .map(|i| [1, 900, 30_000, 50_000, 65_535, 65_536, 65_537, 200_000][i % 8] + i)
        .collect();
    let body =
        |i: usize, size: usize| -> Vec<u8> { (0..size).map(|k| (k * 31 + i * 7) as u8).collect() };
    let layer: Vec<TarEntry> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| file(&format!("f{i}"), &body(i, size)))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = ImageSpec::new(vec![layer]).write(dir.path(), Form::DockerArchive);
    let image = Image::open(&path, &OpenOptions::default()).expect("open");
    let walk = image
        .walk_pipelined_beside(|_| (Pieces::default(), Pieces::default()))
        .expect("walk");
    let (on_reader, on_thread) = &walk.sinks[0];
    for sink in [on_reader, on_thread] {
        assert_eq!(sink.0.len(), sizes.len());
        for (i, (name, pieces)) in sink.0.iter().enumerate() {
            assert_eq!(name, format!("f{i}").as_bytes());
            assert_eq!(pieces.concat(), body(i, sizes[i]), "f{i}");
            if sizes[i] <= 64 * 1024 {
                assert_eq!(pieces.len(), 1, "f{i} of {} bytes", sizes[i]);
            }
        }
    }
}
