#version 330 core
uniform vec3 u_colour;
uniform float u_alpha;
out vec4 frag_colour;
void main() {
    vec2 q = gl_PointCoord * 2.0 - 1.0;
    if (dot(q, q) > 1.0) discard;
    frag_colour = vec4(u_colour, u_alpha);
}
