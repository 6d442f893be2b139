fn main() {
    dmn::hello();
}
